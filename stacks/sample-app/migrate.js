"use strict";
// The sample app's migration: appends one JSON line per run to a log in the host's shared/
// dir, so tests can count how many times (and for which release) a deploy migrated.
// Run from the release dir (`<root>/releases/<id>`), where `../../shared` is the host's
// shared dir; MIGRATIONS_LOG overrides the file.

const fs = require("node:fs");
const path = require("node:path");

function readRevision(dir) {
  try {
    return fs.readFileSync(path.join(dir, "REVISION"), "utf8").trim() || "unknown";
  } catch {
    return "unknown";
  }
}

const release = readRevision(process.cwd());
const logFile = path.resolve(process.cwd(), process.env.MIGRATIONS_LOG || "../../shared/migrations.log");

// The file is created if missing, its directory is not: a missing shared/ means we are not
// where we think we are, and silently creating one would hide that.
if (!fs.existsSync(path.dirname(logFile))) {
  process.stderr.write(
    `migrate: directory ${path.dirname(logFile)} does not exist; run from <root>/releases/<id> ` +
      `(so ../../shared is the host's shared dir) or set MIGRATIONS_LOG to a file path\n`,
  );
  process.exit(1);
}

const line = JSON.stringify({ release, time: new Date().toISOString() });
fs.appendFileSync(logFile, `${line}\n`);
process.stdout.write(`migrate: recorded release ${release} in ${logFile}\n`);

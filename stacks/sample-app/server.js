"use strict";
// The sample app Cutover deploys on the dev stack. Plain Node, no dependencies: it is shipped
// in the artifact exactly as it is here. It exists to make zero-downtime claims testable:
// every answer names the release that served it, /healthz can be broken on purpose, and
// SIGTERM lets in-flight requests finish.

const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");

const HOST = process.env.HOST || "127.0.0.1";
const PORT = Number(process.env.PORT || 8080);
// Past this a stop stops being graceful: supervisors kill us anyway, better to say so first.
const FORCE_EXIT_MS = 10_000;
const MAX_SLOW_MS = 60_000;

if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535) {
  process.stderr.write(`sample-app: PORT=${JSON.stringify(process.env.PORT)} is not a port number (0-65535)\n`);
  process.exit(2);
}

// cwd is the release dir (Cutover starts us in `<root>/current`, resolved), so reading it once
// at start-up pins the id of the code that is actually running, even after `current` moves.
const appDir = process.cwd();
const release = readRevision();
// The boot time to model: START_DELAY_MS from the environment, or from a START_DELAY_MS file in
// the release (a release that boots slower than the last), whichever is longer.
const START_DELAY_MS = Math.max(Number(process.env.START_DELAY_MS || 0), Number(readFile("START_DELAY_MS") || 0));
// A release that dies a while after it started (EXIT_AFTER_MS file in the release): it passes
// its smoke test, then exits — what a deploy's stability window must catch.
const EXIT_AFTER_MS = Number(readFile("EXIT_AFTER_MS") || 0);
// A release that answers 500 to this share (0–1) of its requests to / while /healthz passes
// (ERROR_RATE file in the release): what a canary's hold must catch. Every (1/rate)-th request,
// not random: a test knows how many failed.
const ERROR_RATE = Math.min(Math.max(Number(readFile("ERROR_RATE") || 0), 0), 1);
let served = 0;

function readFile(name) {
  try {
    return fs.readFileSync(path.join(appDir, name), "utf8").trim();
  } catch {
    return "";
  }
}

function readRevision() {
  return readFile("REVISION") || "unknown";
}

function log(message) {
  process.stdout.write(`sample-app ${release} pid=${process.pid}: ${message}\n`);
}

let stopping = false;

function reply(res, status, body) {
  // While stopping, tell keep-alive clients not to reuse the connection, so it can close.
  if (stopping) res.setHeader("Connection", "close");
  res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

function handle(req, res) {
  const url = new URL(req.url || "/", "http://localhost");
  if (req.method !== "GET" && req.method !== "HEAD") return reply(res, 405, "method not allowed\n");
  switch (url.pathname) {
    case "/":
      served += 1;
      if (ERROR_RATE > 0 && Math.floor(served * ERROR_RATE) !== Math.floor((served - 1) * ERROR_RATE)) {
        return reply(res, 500, `error from ${release} (ERROR_RATE ${ERROR_RATE})\n`);
      }
      return reply(res, 200, `hello from ${release}\n`);
    case "/healthz":
      // Checked per request, so a test can break (or mend) a running release.
      if (fs.existsSync(path.join(appDir, "BROKEN_HEALTHZ"))) {
        return reply(res, 500, `unhealthy: BROKEN_HEALTHZ present in ${release}\n`);
      }
      return reply(res, 200, `${release}\n`);
    case "/slow": {
      // Holds a request open so tests can prove a stop or a cutover lets it finish.
      const ms = Math.min(Math.max(Number(url.searchParams.get("ms")) || 0, 0), MAX_SLOW_MS);
      const timer = setTimeout(() => reply(res, 200, `slow ${ms}ms from ${release}\n`), ms);
      res.on("close", () => clearTimeout(timer));
      return undefined;
    }
    default:
      return reply(res, 404, "not found\n");
  }
}

const server = http.createServer(handle);

function stop(signal) {
  if (stopping) return;
  stopping = true;
  if (!server.listening) {
    log(`stopped on ${signal} before listening`);
    process.exit(0);
  }
  // close() stops accepting and waits for open connections. Idle keep-alive ones would hold
  // it open until their timeout, so they are closed now; busy ones get `Connection: close`
  // on their response (see reply), so the server ends them as soon as it is sent.
  server.close(() => {
    log(`stopped on ${signal}`);
    process.exit(0);
  });
  server.closeIdleConnections();
  setTimeout(() => {
    log(`forced exit on ${signal}: requests still open after ${FORCE_EXIT_MS}ms`);
    process.exit(1);
  }, FORCE_EXIT_MS).unref();
}

process.on("SIGTERM", () => stop("SIGTERM"));
process.on("SIGINT", () => stop("SIGINT"));

server.on("error", (err) => {
  log(`cannot listen on ${HOST}:${PORT}: ${err.message}`);
  process.exit(1);
});

if (EXIT_AFTER_MS > 0) {
  setTimeout(() => {
    log(`exiting ${EXIT_AFTER_MS}ms after start, as EXIT_AFTER_MS says`);
    process.exit(3);
  }, EXIT_AFTER_MS).unref();
}

setTimeout(() => {
  if (stopping) return;
  server.listen(PORT, HOST, () => {
    const addr = server.address();
    log(`listening on http://${addr.address}:${addr.port} from ${appDir}`);
  });
}, START_DELAY_MS);

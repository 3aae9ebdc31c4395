import { afterEach, beforeEach, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import { runMigration, type MigrationArgs } from "./migrate";
import { DEFAULT_COMMAND_TIMEOUTS } from "./timeouts";
import { SHELLS, allGone, fakeRelease, killAll, pidsIn, run, rid, sandbox, type Sandbox } from "./testing/sandbox";

let box: Sandbox;
let args: MigrationArgs;
beforeEach(() => {
  box = sandbox();
  fakeRelease(box.root, rid(1));
  args = {
    root: box.root,
    releaseId: rid(1),
    host: "web1",
    command: 'echo "migrate $CUTOVER_RELEASE in $(pwd)" >> ../../log',
    backupCommand: "echo backup >> ../../log",
  };
});
afterEach(() => box.cleanup());

const log = () => fs.readFileSync(path.join(box.root, "log"), "utf8");
const marker = () => path.join(box.root, ".cutover", "migrations", rid(1));
const pidFile = () => path.join(box.root, "pids");

// A command that hangs, and starts a child that would hang too: both are written to pids.
const HANGS = 'echo $$ >> "$CUTOVER_ROOT/pids"; sleep 30 & echo $! >> "$CUTOVER_ROOT/pids"; sleep 30';

describe.each(SHELLS)("runMigration under %s", (shell) => {
  it("backs up, migrates inside the release, then runs never again for that release", () => {
    const first = run(runMigration(args), { shell });
    expect(first.stderr).toBe("");
    expect(first.stdout).toBe(`cutover[web1] backup: done\ncutover[web1] migrate: migration for ${rid(1)} done\n`);
    expect(log()).toBe(`backup\nmigrate ${rid(1)} in ${path.join(box.root, "releases", rid(1))}\n`);
    expect(fs.readFileSync(marker(), "utf8")).toMatch(/^ran at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n$/);

    const second = run(runMigration(args), { shell });
    expect(second.status).toBe(0);
    expect(second.stdout).toMatch(new RegExp(`^cutover\\[web1\\] migrate: migration for ${rid(1)} already ran \\(ran at .*\\)\\n$`));
    expect(log().match(/migrate/g)).toHaveLength(1);
  });

  it("a failing backup stops before the migration and leaves no marker", () => {
    const r = run(runMigration({ ...args, backupCommand: "exit 7" }), { shell });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("cutover[web1] backup: command exited with status 7: exit 7\n");
    expect(fs.existsSync(path.join(box.root, "log"))).toBe(false);
    expect(fs.existsSync(marker())).toBe(false);
  });

  it("a failing migration leaves no marker, so the next deploy retries it", () => {
    const r = run(runMigration({ ...args, backupCommand: undefined, command: "echo try >> ../../log; exit 2" }), { shell });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("cutover[web1] migrate: command exited with status 2: echo try >> ../../log; exit 2\n");
    expect(fs.existsSync(marker())).toBe(false);
    expect(run(runMigration({ ...args, backupCommand: undefined }), { shell }).status).toBe(0);
    expect(log()).toBe(`try\nmigrate ${rid(1)} in ${path.join(box.root, "releases", rid(1))}\n`);
  });

  it("a migration that hangs is stopped at its limit, with all it started, and leaves no marker", () => {
    try {
      const started = Date.now();
      const r = run(runMigration({ ...args, backupCommand: undefined, command: HANGS, migrationTimeoutSeconds: 1 }), { shell });
      expect(Date.now() - started).toBeLessThan(6000);
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(`cutover[web1] migrate: command did not finish within its limit of 1s: ${HANGS}\n`);
      expect(pidsIn(pidFile())).toHaveLength(2);
      expect(allGone(pidsIn(pidFile()))).toBe(true);
      expect(fs.existsSync(marker())).toBe(false);
    } finally {
      killAll(pidsIn(pidFile()));
    }
  });

  it("a backup that hangs is stopped at its limit and the migration does not run", () => {
    try {
      const r = run(runMigration({ ...args, backupCommand: HANGS, backupTimeoutSeconds: 1 }), { shell });
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(`cutover[web1] backup: command did not finish within its limit of 1s: ${HANGS}\n`);
      expect(allGone(pidsIn(pidFile()))).toBe(true);
      expect(fs.existsSync(path.join(box.root, "log"))).toBe(false);
      expect(fs.existsSync(marker())).toBe(false);
    } finally {
      killAll(pidsIn(pidFile()));
    }
  });

  it("refuses a release that is not prepared on this host", () => {
    const r = run(runMigration({ ...args, releaseId: rid(9) }), { shell });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`cutover[web1] migrate: release ${rid(9)} is not prepared on this host`);
  });
});

describe("runMigration", () => {
  it("validates its arguments", () => {
    expect(() => runMigration({ ...args, command: "" })).toThrow(/^migrationCommand "" is invalid/);
    expect(() => runMigration({ ...args, backupCommand: "  " })).toThrow(/^backupCommand /);
    expect(() => runMigration({ ...args, releaseId: "x" })).toThrow(/^releaseId /);
    expect(() => runMigration({ ...args, migrationTimeoutSeconds: 0 })).toThrow(/^migrationTimeoutSeconds 0 is invalid: use a whole number between 1 and 86400 \(seconds\)/);
    expect(() => runMigration({ ...args, backupTimeoutSeconds: 86_401 })).toThrow(/^backupTimeoutSeconds 86401 is invalid/);
  });

  it("gives both commands the default limits unless told otherwise", () => {
    expect(runMigration(args)).toContain(`\nmigrate_limit=${DEFAULT_COMMAND_TIMEOUTS.migration}\n`);
    expect(runMigration(args)).toContain(`\nbackup_limit=${DEFAULT_COMMAND_TIMEOUTS.backup}\n`);
    const set = runMigration({ ...args, migrationTimeoutSeconds: 7200, backupTimeoutSeconds: 600 });
    expect(set).toContain("\nmigrate_limit=7200\n");
    expect(set).toContain("\nbackup_limit=600\n");
  });
});

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import fc from "fast-check";
import * as fs from "node:fs";
import * as path from "node:path";
import { prepareRelease, type PrepareReleaseArgs } from "./release";
import { DEFAULT_COMMAND_TIMEOUTS } from "./timeouts";
import {
  SHELLS,
  hasCommand,
  allGone,
  isAlive,
  killAll,
  lockIsFree,
  makeArtifact,
  pidsIn,
  run,
  rid,
  sandbox,
  sha256File,
  type Sandbox,
} from "./testing/sandbox";
import { nasty } from "./testing/arbitraries";

let box: Sandbox;
let artifact: { path: string; sha256: string };
let args: PrepareReleaseArgs;
const id = "v2.0-0123456789ab";

beforeEach(() => {
  box = sandbox();
  artifact = makeArtifact(box.dir, {
    "server.js": "console.log('hi')\n",
    "log/stale.log": "shipped by mistake\n",
    ".prepared": "an artifact must not mark itself prepared\n",
  });
  fs.mkdirSync(path.join(box.root, "shared"), { recursive: true });
  fs.writeFileSync(path.join(box.root, "shared", ".env"), "SECRET=1\n");
  args = {
    root: box.root,
    releaseId: id,
    artifactPath: artifact.path,
    sha256: artifact.sha256,
    linkedDirs: ["log", "public/uploads"],
    linkedFiles: [".env"],
    installCommand: 'echo "install in $(pwd) for $CUTOVER_RELEASE" >> "$CUTOVER_SHARED_DIR/steps"',
    buildHooks: ['echo hook1 >> "$CUTOVER_SHARED_DIR/steps"', 'echo "hook2 $CUTOVER_HOST" >> ../../shared/steps'],
    host: "web1",
  };
});
afterEach(() => box.cleanup());

const rel = (...p: string[]) => path.join(box.root, "releases", id, ...p);
const steps = () => fs.readFileSync(path.join(box.root, "shared", "steps"), "utf8");
const pidFile = () => path.join(box.root, "shared", "pids");

// A command that hangs, and starts a child that would hang too: both are written to pids.
const HANGS = 'echo $$ >> "$CUTOVER_SHARED_DIR/pids"; sleep 30 & echo $! >> "$CUTOVER_SHARED_DIR/pids"; sleep 30';

describe.each(SHELLS)("prepareRelease under %s", (shell) => {
  it("unpacks, links shared paths, writes REVISION, runs install then hooks in the release, marks it prepared", () => {
    const r = run(prepareRelease(args), { shell });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`cutover[web1] prepare: release ${id} prepared in ${rel()}\n`);
    expect(fs.readFileSync(rel("server.js"), "utf8")).toBe("console.log('hi')\n");
    expect(fs.readFileSync(rel("REVISION"), "utf8")).toBe(`${id}\n`);
    expect(fs.existsSync(rel(".prepared"))).toBe(true);
    expect(fs.readlinkSync(rel("log"))).toBe(path.join(box.root, "shared", "log"));
    expect(fs.readlinkSync(rel("public", "uploads"))).toBe(path.join(box.root, "shared", "public", "uploads"));
    expect(fs.readlinkSync(rel(".env"))).toBe(path.join(box.root, "shared", ".env"));
    expect(fs.statSync(path.join(box.root, "shared", "public", "uploads")).isDirectory()).toBe(true);
    expect(steps()).toBe(`install in ${rel()} for ${id}\nhook1\nhook2 web1\n`);
    // No partial unpack left behind.
    expect(fs.readdirSync(path.join(box.root, "releases"))).toEqual([id]);
  });

  it("is idempotent: a prepared release is left alone", () => {
    expect(run(prepareRelease(args), { shell }).status).toBe(0);
    const again = run(prepareRelease(args), { shell });
    expect(again).toMatchObject({ status: 0, stdout: `cutover[web1] prepare: release ${id} already prepared\n` });
    expect(steps().match(/install/g)).toHaveLength(1);
  });

  it("a sha mismatch fails naming host and step, and creates no release", () => {
    const bad = "f".repeat(64);
    const r = run(prepareRelease({ ...args, sha256: bad }), { shell });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `cutover[web1] verify: sha256 of ${artifact.path} is ${artifact.sha256}, expected ${bad}; ` +
        "the upload is corrupt or stale — re-run the deploy to upload it again\n",
    );
    expect(fs.existsSync(rel())).toBe(false);
  });

  it("a missing artifact fails in verify", () => {
    const r = run(prepareRelease({ ...args, artifactPath: path.join(box.dir, "nope.tar.gz") }), { shell });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^cutover\[web1\] verify: artifact .*nope\.tar\.gz is missing; it must be uploaded before prepare/);
  });

  it("an artifact that is not a tar.gz fails in unpack", () => {
    const junk = path.join(box.dir, "junk.tar.gz");
    fs.writeFileSync(junk, "not a tarball");
    const r = run(prepareRelease({ ...args, artifactPath: junk, sha256: sha256File(junk) }), { shell });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`cutover[web1] unpack: tar could not unpack ${junk}`);
    expect(fs.existsSync(rel())).toBe(false);
  });

  it("a failing install leaves no .prepared; the next attempt starts over and succeeds", () => {
    const r = run(prepareRelease({ ...args, installCommand: "echo partial > half-done; exit 3" }), { shell });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("cutover[web1] install: command exited with status 3: echo partial > half-done; exit 3");
    expect(fs.existsSync(rel(".prepared"))).toBe(false);
    expect(fs.existsSync(rel("half-done"))).toBe(true);

    const retry = run(prepareRelease(args), { shell });
    expect(retry.status).toBe(0);
    expect(fs.existsSync(rel("half-done"))).toBe(false);
    expect(fs.existsSync(rel(".prepared"))).toBe(true);
  });

  it("a command that starts a daemon does not pass the lock on to it: the lock is free once prepare ends", () => {
    const lock = { root: box.root, owner: "ann", stack: "prod", release: id, step: "prepare" };
    const installCommand = 'sleep 600 </dev/null >/dev/null 2>&1 & echo $! > "$CUTOVER_SHARED_DIR/pids"';
    try {
      const r = run(prepareRelease({ ...args, installCommand, lock }), { shell });
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
      const [daemon] = pidsIn(pidFile());
      expect(isAlive(daemon)).toBe(true);
      expect(lockIsFree(path.join(box.root, ".cutover", "deploy.lock"))).toBe(true);
    } finally {
      killAll(pidsIn(pidFile()));
    }
  });

  it("an install that hangs is stopped at its limit, with all it started, naming the step, limit and command", () => {
    try {
      const started = Date.now();
      const r = run(prepareRelease({ ...args, installCommand: HANGS, installTimeoutSeconds: 1 }), { shell });
      expect(Date.now() - started).toBeLessThan(6000);
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(`cutover[web1] install: command did not finish within its limit of 1s: ${HANGS}\n`);
      expect(pidsIn(pidFile())).toHaveLength(2);
      expect(allGone(pidsIn(pidFile()))).toBe(true);
      expect(fs.existsSync(rel(".prepared"))).toBe(false);
    } finally {
      killAll(pidsIn(pidFile()));
    }
  });

  it("each build hook has the hook limit", () => {
    const r = run(prepareRelease({ ...args, buildHooks: ["sleep 0.1", "sleep 30"], buildHookTimeoutSeconds: 1 }), { shell });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("cutover[web1] build hook 2: command did not finish within its limit of 1s: sleep 30\n");
  });

  it("a command killed before its limit (say by the OOM killer) is reported by its status, not as a timeout", () => {
    const r = run(prepareRelease({ ...args, installCommand: "kill -9 $$" }), { shell });
    expect(r.status).toBe(1);
    // The shell may add its own "Killed" line before Cutover's.
    expect(r.stderr.endsWith("cutover[web1] install: command exited with status 137: kill -9 $$\n")).toBe(true);
    expect(r.stderr).not.toContain("within its limit");
  });

  it("a failing hook is named by its position", () => {
    const r = run(prepareRelease({ ...args, buildHooks: ["true", "false"] }), { shell });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("cutover[web1] build hook 2: command exited with status 1: false\n");
  });

  it("a missing shared file stops the deploy with the fix", () => {
    const r = run(prepareRelease({ ...args, linkedFiles: ["config/database.yml"] }), { shell });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `cutover[web1] link: shared file ${path.join(box.root, "shared", "config/database.yml")} does not exist; ` +
        "create it on the host (it is linked into every release) or remove it from linkedFiles\n",
    );
  });

  it("never removes the live release even if its marker is missing", () => {
    fs.mkdirSync(rel(), { recursive: true });
    fs.symlinkSync(`releases/${id}`, path.join(box.root, "current"));
    const r = run(prepareRelease(args), { shell });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("is the live release but has no .prepared marker");
    expect(fs.existsSync(rel())).toBe(true);
  });
});

describe("prepareRelease", () => {
  it("runs install and hooks as the app user when connected as root", () => {
    if (process.getuid?.() !== 0 || !hasCommand("runuser")) return;
    const r = run(prepareRelease({ ...args, linkedDirs: [], linkedFiles: [], appUser: "nobody", installCommand: "id -un > whoami", buildHooks: [] }));
    expect(r.stderr).toBe("");
    expect(fs.readFileSync(rel("whoami"), "utf8")).toBe("nobody\n");
    expect(fs.statSync(rel("server.js")).uid).not.toBe(0);
  });

  it("validates its arguments, naming each", () => {
    expect(() => prepareRelease({ ...args, releaseId: "latest" })).toThrow(/^releaseId "latest" is invalid/);
    expect(() => prepareRelease({ ...args, sha256: "abc" })).toThrow(/^sha256 "abc" is invalid/);
    expect(() => prepareRelease({ ...args, artifactPath: "app.tgz" })).toThrow(/^artifactPath "app.tgz" is invalid/);
    expect(() => prepareRelease({ ...args, linkedDirs: ["log", "../etc"] })).toThrow(/^linkedDirs\[1\] "..\/etc" is invalid/);
    expect(() => prepareRelease({ ...args, linkedFiles: ["/etc/passwd"] })).toThrow(/^linkedFiles\[0\] /);
    expect(() => prepareRelease({ ...args, buildHooks: [" "] })).toThrow(/^buildHooks\[0\] /);
    expect(() => prepareRelease({ ...args, appUser: "Bad User" })).toThrow(/^appUser /);
    expect(() => prepareRelease({ ...args, installTimeoutSeconds: 0 })).toThrow(/^installTimeoutSeconds 0 is invalid: use a whole number between 1 and 86400 \(seconds\)/);
    expect(() => prepareRelease({ ...args, buildHookTimeoutSeconds: 1.5 })).toThrow(/^buildHookTimeoutSeconds 1.5 is invalid/);
  });

  it("gives install and each hook the default limits unless told otherwise", () => {
    expect(prepareRelease(args)).toContain(`\ninstall_limit=${DEFAULT_COMMAND_TIMEOUTS.install}\n`);
    expect(prepareRelease(args)).toContain(`\nhook_limit=${DEFAULT_COMMAND_TIMEOUTS.buildHook}\n`);
    const set = prepareRelease({ ...args, installTimeoutSeconds: 60, buildHookTimeoutSeconds: 30 });
    expect(set).toContain("\ninstall_limit=60\n");
    expect(set).toContain("\nhook_limit=30\n");
  });

  it("property: host labels and shared paths with shell syntax are handled as data", () => {
    fc.assert(
      fc.property(
        nasty,
        nasty.map((s) => s.replace(/[\u0000-\u001f\u007f/]/g, "_")).filter((s) => s.length > 0 && s !== "." && s !== ".."),
        (host, dir) => {
          const b = sandbox(`r ${[...dir].slice(0, 10).join("")}`);
          try {
            const a = makeArtifact(b.dir, { "index.html": "x" });
            const r = run(prepareRelease({ root: b.root, releaseId: rid(1), artifactPath: a.path, sha256: a.sha256, linkedDirs: [dir], host }));
            expect(r.stderr).toBe("");
            expect(r.stdout).toBe(`cutover[${host}] prepare: release ${rid(1)} prepared in ${path.join(b.root, "releases", rid(1))}\n`);
            expect(fs.readlinkSync(path.join(b.root, "releases", rid(1), dir))).toBe(path.join(b.root, "shared", dir));
            const wrong = run(prepareRelease({ root: b.root, releaseId: rid(2), artifactPath: a.path, sha256: "0".repeat(64), host }));
            expect(wrong.stderr.startsWith(`cutover[${host}] verify: sha256 of `)).toBe(true);
          } finally {
            b.cleanup();
          }
        },
      ),
      { numRuns: 20 },
    );
  });
});

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import fc from "fast-check";
import * as fs from "node:fs";
import * as path from "node:path";
import { prepareRelease, type PrepareReleaseArgs } from "./release";
import { SHELLS, hasCommand, makeArtifact, run, rid, sandbox, sha256File, type Sandbox } from "./testing/sandbox";
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

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import fc from "fast-check";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { activateRelease, restorePrevious } from "./activate";
import { SHELLS, currentOf, fakeRelease, historyOf, run, rid, sandbox, type Sandbox } from "./testing/sandbox";
import { nastyLabel } from "./testing/arbitraries";

let box: Sandbox;
beforeEach(() => {
  box = sandbox();
  fakeRelease(box.root, rid(1));
  fakeRelease(box.root, rid(2));
});
afterEach(() => box.cleanup());

// The restart command logs which release `current` resolved to, and where it ran.
const restart = 'echo "restart $(cat current/REVISION) in $(pwd)" >> restarts.log';
const activate = (n: number, extra: Partial<Parameters<typeof activateRelease>[0]> = {}) =>
  activateRelease({ root: box.root, releaseId: rid(n), host: "web1", restartCommand: restart, by: "alice", ...extra });
const restore = (extra: Partial<Parameters<typeof restorePrevious>[0]> = {}) =>
  restorePrevious({ root: box.root, host: "web1", restartCommand: restart, by: "alice", ...extra });
const restarts = () => fs.readFileSync(path.join(box.root, "restarts.log"), "utf8").trim().split("\n");
const previous = () => fs.readFileSync(path.join(box.root, ".cutover", "previous"), "utf8");

describe.each(SHELLS)("activateRelease under %s", (shell) => {
  it("first activation: relative link, no previous, one history line, restart in the root", () => {
    const r = run(activate(1), { shell });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(`cutover[web1] activate: current -> releases/${rid(1)} (was none)\ncutover[web1] restart: done\n`);
    expect(currentOf(box.root)).toBe(`releases/${rid(1)}`);
    expect(fs.existsSync(path.join(box.root, ".cutover", "previous"))).toBe(false);
    expect(historyOf(box.root)).toEqual([
      { release: rid(1), previous: null, time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/), by: "alice", action: "activate" },
    ]);
    expect(restarts()).toEqual([`restart ${rid(1)} in ${box.root}`]);
    expect(fs.existsSync(path.join(box.root, "releases", rid(1), ".activated"))).toBe(true);
  });

  it("second activation records previous; a re-run keeps previous and adds no history, but restarts", () => {
    expect(run(activate(1), { shell }).status).toBe(0);
    expect(run(activate(2), { shell }).status).toBe(0);
    expect(currentOf(box.root)).toBe(`releases/${rid(2)}`);
    expect(previous()).toBe(`${rid(1)}\n`);
    expect(historyOf(box.root).map((h) => [h.release, h.previous])).toEqual([
      [rid(1), null],
      [rid(2), rid(1)],
    ]);

    const again = run(activate(2), { shell });
    expect(again.stdout).toContain(`release ${rid(2)} is already current`);
    expect(previous()).toBe(`${rid(1)}\n`);
    expect(historyOf(box.root)).toHaveLength(2);
    expect(restarts()).toHaveLength(3);
  });

  it("refuses a release that is not prepared", () => {
    fakeRelease(box.root, rid(3), { prepared: false });
    const r = run(activate(3), { shell });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `cutover[web1] activate: release ${rid(3)} is not prepared on this host (${box.root}/releases/${rid(3)}/.prepared is missing); run prepare first\n`,
    );
    expect(currentOf(box.root)).toBeUndefined();
  });

  it("refuses to replace a real directory named current", () => {
    fs.mkdirSync(path.join(box.root, "current"));
    const r = run(activate(1), { shell });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("is a real directory or file, not a symlink");
  });

  it("a failing restart swaps back to the previous release and fails", () => {
    expect(run(activate(1), { shell }).status).toBe(0);
    const flaky = `if [ "$(cat current/REVISION)" = ${rid(2)} ]; then exit 4; fi; ${restart}`;
    const r = run(activate(2, { restartCommand: flaky }), { shell });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `cutover[web1] restart: restart command exited with status 4; restored the previous release ${rid(1)} — fix the release and deploy again\n`,
    );
    expect(currentOf(box.root)).toBe(`releases/${rid(1)}`);
    expect(historyOf(box.root).map((h) => [h.action, h.release])).toEqual([
      ["activate", rid(1)],
      ["activate", rid(2)],
      ["restore", rid(1)],
    ]);
    expect(restarts()).toEqual([`restart ${rid(1)} in ${box.root}`, `restart ${rid(1)} in ${box.root}`]);
  });

  it("restorePrevious swaps back, is idempotent, and keeps the rollback target", () => {
    run(activate(1), { shell });
    run(activate(2), { shell });
    const r = run(restore(), { shell });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(`cutover[web1] restore: current -> releases/${rid(1)} (was ${rid(2)})\ncutover[web1] restart: done\n`);
    expect(currentOf(box.root)).toBe(`releases/${rid(1)}`);
    expect(previous()).toBe(`${rid(1)}\n`);
    expect(historyOf(box.root).at(-1)).toMatchObject({ release: rid(1), previous: rid(2), action: "restore" });

    const again = run(restore(), { shell });
    expect(again.status).toBe(0);
    expect(again.stdout).toContain(`release ${rid(1)} is already current`);
    expect(historyOf(box.root)).toHaveLength(3);
  });

  it("restorePrevious without a previous release says so", () => {
    run(activate(1), { shell });
    const r = run(restore(), { shell });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^cutover\[web1\] restore: no previous release is recorded in .* \(first deploy on this host\?\); fix forward and deploy again\n$/);
  });
});

describe("activation", () => {
  it("swaps current atomically: a reader polling during 40 swaps never finds it missing", async () => {
    run(activate(1));
    const reader = spawn(
      "bash",
      ["-c", 'n=0; while [ ! -e stop ]; do t=$(readlink current) || { echo MISSING; exit 1; }; [ -n "$t" ] || { echo EMPTY; exit 1; }; n=$((n+1)); done; echo "reads $n"'],
      { cwd: box.root },
    );
    let out = "";
    reader.stdout.on("data", (d) => (out += d));
    // "close", not "exit": stdout may still hold the final line when the process exits.
    const exited = new Promise<number>((resolve) => reader.on("close", (code) => resolve(code ?? -1)));
    for (let i = 0; i < 40; i++) expect(run(activate(i % 2 === 0 ? 2 : 1, { restartCommand: "true" })).status).toBe(0);
    fs.writeFileSync(path.join(box.root, "stop"), "");
    expect(await exited).toBe(0);
    expect(out).toMatch(/^reads \d+\n$/);
  });

  it("validates its arguments", () => {
    expect(() => activate(1, { releaseId: "current" })).toThrow(/^releaseId "current" is invalid/);
    expect(() => activate(1, { restartCommand: "" })).toThrow(/^restartCommand "" is invalid/);
    expect(() => activate(1, { by: "a\nb" })).toThrow(/^by /);
  });

  it("property: any deployer name is recorded as valid JSON, exactly", () => {
    fc.assert(
      fc.property(nastyLabel, (by) => {
        const b = sandbox();
        try {
          fakeRelease(b.root, rid(1));
          const r = run(activateRelease({ root: b.root, releaseId: rid(1), host: by, restartCommand: "true", by }));
          expect(r.stderr).toBe("");
          expect(r.stdout.startsWith(`cutover[${by}] activate: `)).toBe(true);
          expect(historyOf(b.root)).toEqual([expect.objectContaining({ by, release: rid(1) })]);
        } finally {
          b.cleanup();
        }
      }),
      { numRuns: 25 },
    );
  });
});

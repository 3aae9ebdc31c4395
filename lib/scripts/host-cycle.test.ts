// The host's side of a cycle, run for real under bash and dash against a throwaway root:
// orders arrive on stdin as the runner sends them; the check is a command that reads the
// release's REVISION, so a "bad" release is one whose REVISION check fails.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { hostCycle, parseCycleResult, parseCycleState } from "./host-cycle";
import { LOCK_HELD_EXIT_CODE } from "./lock";
import { SHELLS, currentOf, fakeRelease, historyOf, rid, sandbox, type Sandbox } from "./testing/sandbox";

let box: Sandbox;
beforeEach(() => {
  box = sandbox();
  for (const n of [1, 2, 3]) fakeRelease(box.root, rid(n));
  // Release 3 is broken: its check fails.
  fs.writeFileSync(path.join(box.root, "releases", rid(3), "BROKEN"), "");
});
afterEach(() => box.cleanup());

const restart = 'echo "restart $(cat current/REVISION)" >> restarts.log';
const cycle = (n: number, more: { aliveCommand?: string; deadlineSeconds?: number } = {}) =>
  hostCycle({
    root: box.root,
    host: "web1",
    releaseId: rid(n),
    restartCommand: restart,
    aliveCommand: more.aliveCommand,
    by: "alice",
    check: { kind: "command", command: 'test ! -e BROKEN && grep -q "$CUTOVER_RELEASE" REVISION', deadlineSeconds: more.deadlineSeconds ?? 1 },
    keepReleases: 2,
    lock: { owner: "alice", stack: "prod" },
  });
const restarts = () => (fs.existsSync(path.join(box.root, "restarts.log")) ? fs.readFileSync(path.join(box.root, "restarts.log"), "utf8").trim().split("\n") : []);
const runCycle = (script: string, orders: string, shell: string) => spawnSync(shell, ["-c", script], { input: orders, encoding: "utf8", timeout: 20_000 });
const lines = (out: string) => out.split("\n");

describe.each(SHELLS)("hostCycle under %s", (shell) => {
  it("switches, reports ok, prunes after the runner says so; a second run finds nothing to do", () => {
    const first = runCycle(cycle(1), "switch\ndone\n", shell);
    expect(first.stderr).toBe("");
    expect(lines(first.stdout).map(parseCycleState).find(Boolean)).toEqual({ state: "switch", was: "none" });
    expect(lines(first.stdout).map(parseCycleResult).find(Boolean)).toEqual({ result: "ok" });
    expect(currentOf(box.root)).toBe(`releases/${rid(1)}`);
    const second = runCycle(cycle(2), "switch\nprune\n", shell);
    expect(second.status).toBe(0);
    expect(currentOf(box.root)).toBe(`releases/${rid(2)}`);
    expect(fs.readFileSync(path.join(box.root, ".cutover", "previous"), "utf8")).toBe(`${rid(1)}\n`);
    // keep 2: current and previous stay, the never-activated 3 goes.
    expect(fs.readdirSync(path.join(box.root, "releases")).sort()).toEqual([rid(1), rid(2)]);
    const again = runCycle(cycle(2), "done\n", shell);
    expect(lines(again.stdout).map(parseCycleState).find(Boolean)).toEqual({ state: "current" });
    expect(restarts()).toEqual([`restart ${rid(1)}`, `restart ${rid(2)}`]); // no restart for "current"
  });

  it("a release failing its check is swapped back and restarted on the previous one", () => {
    runCycle(cycle(1), "switch\ndone\n", shell);
    const r = runCycle(cycle(3), "switch\ndone\n", shell);
    const result = lines(r.stdout).map(parseCycleResult).find(Boolean);
    expect(result).toMatchObject({ result: "restored", previous: rid(1) });
    expect(result && "reason" in result ? result.reason : "").toMatch(/check command did not pass for release v3-000000000003 within 1s/);
    expect(currentOf(box.root)).toBe(`releases/${rid(1)}`);
    expect(restarts()).toEqual([`restart ${rid(1)}`, `restart ${rid(3)}`, `restart ${rid(1)}`]);
    expect(historyOf(box.root).map((h) => [h.action, h.release])).toEqual([
      ["activate", rid(1)],
      ["activate", rid(3)],
      ["restore", rid(1)],
    ]);
  });

  it("a release its service manager reports dead goes back at the first poll, not at the check's deadline", () => {
    // Stands in for supervisord's answer about a release that exited at start.
    const alive = 'if [ -e current/CRASHES ]; then echo "supervisord reports app BACKOFF: Exited too quickly" >&2; exit 1; fi';
    fs.writeFileSync(path.join(box.root, "releases", rid(3), "CRASHES"), "");
    runCycle(cycle(1, { aliveCommand: alive }), "switch\ndone\n", shell);
    const r = runCycle(cycle(3, { aliveCommand: alive, deadlineSeconds: 600 }), "switch\ndone\n", shell);
    const result = lines(r.stdout).map(parseCycleResult).find(Boolean);
    expect(result).toMatchObject({ result: "restored", previous: rid(1) });
    expect(result && "reason" in result ? result.reason : "").toMatch(
      /^release v3-000000000003 stopped after its restart \(1 attempts\): supervisord reports app BACKOFF: Exited too quickly; last response: exit 1/,
    );
    expect(currentOf(box.root)).toBe(`releases/${rid(1)}`);
    expect(restarts()).toEqual([`restart ${rid(1)}`, `restart ${rid(3)}`, `restart ${rid(1)}`]);
  });

  it("end of input before an order changes nothing (the runner went away)", () => {
    runCycle(cycle(1), "switch\ndone\n", shell);
    const r = runCycle(cycle(2), "", shell);
    expect(r.status).toBe(0);
    expect(currentOf(box.root)).toBe(`releases/${rid(1)}`);
  });

  it("refuses a release that is not prepared, before anything changes", () => {
    const r = runCycle(cycle(4), "switch\n", shell);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/release v4-000000000004 is not prepared on this host/);
    expect(currentOf(box.root)).toBeUndefined();
  });

  it("holds the lock while it runs: a second cycle is refused naming the holder; freed when the first ends", async () => {
    const holder = spawn(shell, ["-c", cycle(1)], { stdio: ["pipe", "pipe", "pipe"] });
    await new Promise<void>((resolve) => holder.stdout.on("data", (d: Buffer) => d.toString().includes("cutover-state") && resolve()));
    const refused = runCycle(cycle(2), "switch\n", shell);
    expect(refused.status).toBe(LOCK_HELD_EXIT_CODE);
    expect(refused.stderr).toMatch(/host web1 is being deployed by alice \(stack prod, release v1-000000000001, step cycle, pid \d+ on the host\) since \d{4}-/);
    holder.kill("SIGKILL"); // the holder dies: the kernel frees the lock
    await new Promise((r) => holder.on("close", r));
    expect(runCycle(cycle(2), "switch\ndone\n", shell).status).toBe(0);
    expect(currentOf(box.root)).toBe(`releases/${rid(2)}`);
  });
});

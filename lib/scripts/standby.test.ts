// The host's side of the overlap strategy, run for real under bash and dash against a throwaway
// root: each slot is a file saying what it runs (its "process"), written by its restart command
// and removed by its stop command. What is asserted is what the runner relies on: which release
// each slot runs, that a warm slot is not restarted, that a host deployed with `cycle` until
// now counts its running release as warm, and that a slot's warm time ends in its stop unless a
// later job started it again.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import { attachJob, parseAttach, parseCycleProbe, probeCycle, startJob, type CycleLimits, type JobArgs } from "./host-job";
import { parseSlotsProbe, settleSlots, type SlotCommands, type SlotName } from "./standby";
import { sh } from "./quote";
import { currentOf, fakeRelease, rid, run, runAsync, sandbox, type Sandbox, type Shell, SHELLS } from "./testing/sandbox";

let box: Sandbox;
beforeEach(() => {
  box = sandbox();
  for (const n of [1, 2, 3]) fakeRelease(box.root, rid(n));
});
afterEach(() => box.cleanup());

const at = (...p: string[]) => path.join(box.root, ...p);
const runs = (slot: SlotName) => (fs.existsSync(at(`slot-${slot}.runs`)) ? fs.readFileSync(at(`slot-${slot}.runs`), "utf8").trim() : undefined);
const restarts = () => (fs.existsSync(at("restarts.log")) ? fs.readFileSync(at("restarts.log"), "utf8").trim().split("\n") : []);
const LIMITS: CycleLimits = { restart: 5, alive: 5, checkCommand: 5 };
const slot = (s: SlotName): SlotCommands => ({
  // Run in the deploy root: the slot "starts" from current, as a service manager would.
  restartCommand: `cat current/REVISION > slot-${s}.runs && echo "${s} $(cat current/REVISION)" >> restarts.log`,
  stopCommand: `rm -f slot-${s}.runs`,
  aliveCommand: `test -s slot-${s}.runs`,
});
const slots = { a: slot("a"), b: slot("b") };

let seq = 0;
function standby(s: SlotName, n: number): JobArgs {
  return {
    root: box.root,
    host: "web1",
    releaseId: rid(n),
    restartCommand: slots[s].restartCommand,
    aliveCommand: slots[s].aliveCommand,
    check: { kind: "none" },
    limits: LIMITS,
    kind: "standby",
    standby: { slot: s, stopCommand: slots[s].stopCommand },
    jobId: `${Date.now()}-standby-${++seq}`,
    by: "alice",
    lock: { owner: "alice", stack: "prod" },
  };
}

async function startInSlot(s: SlotName, n: number, shell: Shell) {
  const a = standby(s, n);
  const started = run(startJob(a), { shell });
  expect(started.stderr).toBe("");
  const r = await runAsync(attachJob({ root: box.root, host: "web1", jobId: a.jobId, waitSeconds: 20 }), { shell, timeoutMs: 30_000 });
  return parseAttach(r.stdout);
}

/** A host deployed with `cycle` so far: current → release 1, running in slot a. */
function cycleDeployed(): void {
  fs.symlinkSync(`releases/${rid(1)}`, at("current"));
  run(`${sh`cd ${box.root}`} && ${slots.a.restartCommand}`);
}

describe.each(SHELLS)("the standby slots under %s", (shell) => {
  it("starts the target in the idle slot, keeps the other running, and counts a cycle-deployed host's release as warm", async () => {
    cycleDeployed();
    const probe = await runAsync(probeCycle({ root: box.root, host: "web1", releaseId: rid(1), restartCommand: "true", check: { kind: "none" }, limits: LIMITS, slots }), { shell });
    expect(parseSlotsProbe(probe.stdout)).toEqual({ serving: undefined, a: { release: rid(1), passes: true }, b: { release: undefined, passes: false } });

    expect(await startInSlot("b", 2, shell)).toMatchObject({ state: "done", outcome: { result: "ok" } });
    expect([runs("a"), runs("b"), currentOf(box.root)]).toEqual([rid(1), rid(2), `releases/${rid(2)}`]);
    expect(fs.readFileSync(at(".cutover", "slots", "a"), "utf8").trim()).toBe(rid(1));

    // Back to release 1: slot a still runs it, so it is only checked, not restarted.
    const before = restarts().length;
    expect(await startInSlot("a", 1, shell)).toMatchObject({ state: "done", outcome: { result: "ok", warm: true } });
    expect(restarts().length).toBe(before);
    expect(currentOf(box.root)).toBe(`releases/${rid(1)}`);
  });

  it("a slot that does not come up is stopped again and current goes back", async () => {
    cycleDeployed();
    const args = { ...standby("b", 2), restartCommand: "exit 3" };
    run(startJob(args), { shell });
    const r = await runAsync(attachJob({ root: box.root, host: "web1", jobId: args.jobId, waitSeconds: 20 }), { shell });
    const reply = parseAttach(r.stdout);
    expect(reply).toMatchObject({ state: "done", outcome: { result: "restored", previous: rid(1) } });
    expect(reply?.state === "done" && "reason" in reply.outcome ? reply.outcome.reason : "").toMatch(/^restart exited with status 3/);
    expect([runs("a"), runs("b"), currentOf(box.root)]).toEqual([rid(1), undefined, `releases/${rid(1)}`]);
  });

  it("settle stops the other slot after its warm time, unless a job started that slot again", async () => {
    cycleDeployed();
    await startInSlot("b", 2, shell);
    const settle = (warmSeconds: number, token: string) =>
      run(settleSlots({ root: box.root, host: "web1", serving: "b", stopCommand: slots.a.stopCommand, warmSeconds, stopLimitSeconds: 5, token }), { shell });
    // 3 s: the slot must still run when settle returns, even on a busy machine (1 s once did not).
    expect(settle(3, "aaaaaa").stdout).toBe("cutover-settled warm\n");
    expect(runs("a")).toBe(rid(1)); // warm
    const end = Date.now() + 10_000;
    while (runs("a") !== undefined && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    expect(runs("a")).toBeUndefined();
    expect(fs.readFileSync(at(".cutover", "slots", "log"), "utf8")).toMatch(/slot a stopped after 3s warm/);

    // A later deploy starts slot a again before the timer fires: the timer stands down.
    await startInSlot("a", 3, shell);
    expect(settle(1, "bbbbbb").stdout).toBe("cutover-settled warm\n");
    await startInSlot("a", 3, shell); // the same slot, as a rollback within the warm time would
    await new Promise((r) => setTimeout(r, 2500));
    expect(runs("a")).toBe(rid(3));
    expect(settle(0, "cccccc").stdout).toBe("cutover-settled stopped\n");
    expect(runs("a")).toBeUndefined();
    expect(parseCycleProbe((await runAsync(probeCycle({ root: box.root, host: "web1", releaseId: rid(3), restartCommand: "true", check: { kind: "none" }, limits: LIMITS }), { shell })).stdout)).toEqual({ state: "current" });
  });
});

// A host's cycle (cycle.ts) against a fake fleet (testing/fakes.ts): no SSH, no balancer, one
// shared log of every call. What is asserted is what an operator sees afterwards: where the
// host is in rotation and on which release, whether it was hidden before its job and put back
// only after a known-good outcome (checked) or a job that never started (unchecked), and the
// step's message: host, batch, reason, where the host was left, what to do.
import { describe, expect, it } from "vitest";
import { JobRefused, StepFailure, cycle, cycleHost, leaseSeconds } from "./cycle";
import { hostOf } from "./context";
import type { DeployContext } from "./context";
import { FakeHostOps, FakeMembership, PREVIOUS, TARGET, testContext, testEnv } from "./testing/fakes";

const LIMIT = 420;

function fleet(batches: string[][] = [["web1"]], over: Partial<DeployContext> = {}, options: { lb?: boolean; fronted?: string[]; guarded?: boolean } = {}) {
  const calls: string[] = [];
  const ops = new FakeHostOps(calls, LIMIT);
  const lb = new FakeMembership(calls, options.fronted, options.guarded);
  const ctx = testContext(batches, over);
  const env = testEnv(ctx, ops, options.lb === false ? undefined : lb);
  return { calls, ops, lb, ctx, env, host: (name: string) => hostOf(ctx, name) };
}

/** The StepFailure of `run`, which must fail with one. */
async function failureOf(run: Promise<unknown>): Promise<string> {
  const e = await run.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(StepFailure);
  return (e as StepFailure).message;
}

const before = (calls: string[], a: string, b: string) => {
  expect(calls).toContain(a);
  expect(calls).toContain(b);
  return calls.indexOf(a) < calls.indexOf(b);
};

describe("a host already on the target", () => {
  it("is left alone: no hide, no job, unchanged", async () => {
    const f = fleet();
    f.ops.host("web1").current = TARGET;
    await expect(cycleHost(f.env, f.host("web1"), "switch")).resolves.toEqual({ kind: "unchanged" });
    expect(f.calls).toEqual(["probe web1", "rotation web1"]);
    expect(f.lb.state("web1")).toEqual({ kind: "in", admin: "ready" });
    await expect(cycle(f.env, "web1")).resolves.toEqual([]);
  });

  it("left hidden by an earlier attempt: put back, checked, to the state it had, then unchanged", async () => {
    const f = fleet();
    f.ops.host("web1").current = TARGET;
    f.lb.set("web1", { kind: "cutover-hidden", was: "drain" });
    await expect(cycleHost(f.env, f.host("web1"), "switch")).resolves.toEqual({ kind: "unchanged" });
    expect(f.calls).toEqual(["probe web1", "rotation web1", "putBack web1 drain checked"]);
    expect(f.lb.state("web1")).toEqual({ kind: "in", admin: "drain" });
    expect(f.env.phases.map((p) => p.phase)).toEqual(["lock", "unhide", "in-rotation", "unchanged"]);
  });

  it("without a balancer: unchanged, nothing read from one", async () => {
    const f = fleet([["web1"]], {}, { lb: false });
    f.ops.host("web1").current = TARGET;
    await expect(cycleHost(f.env, f.host("web1"), "switch")).resolves.toEqual({ kind: "unchanged" });
    expect(f.calls).toEqual(["probe web1"]);
  });
});

describe("a host an operator took out of rotation (MAINT by hand)", () => {
  const detail = "web/web1 is MAINT in HAProxy, set by someone other than Cutover";

  it("is never hidden nor put back; its job still runs and the result says it was left as found", async () => {
    const f = fleet();
    f.lb.set("web1", { kind: "operator-out", detail });
    await expect(cycle(f.env, "web1")).resolves.toEqual([`${detail}: left as found`]);
    expect(f.calls).toEqual(["probe web1", "rotation web1", "start web1 switch", "attach web1 job-1", "prune web1"]);
    expect(f.lb.state("web1")).toEqual({ kind: "operator-out", detail });
    expect(f.ops.host("web1").current).toBe(TARGET);
    expect(f.env.phases).toContainEqual({ host: "web1", phase: "left-as-found", detail: `${detail}: left as found` });
  });

  it("a failing job leaves it untouched too, and the message says it was left as found", async () => {
    const f = fleet();
    f.lb.set("web1", { kind: "operator-out", detail });
    f.ops.host("web1").attaches.push({ outcome: { result: "broken", reason: "restart timed out" }, log: "" });
    const message = await failureOf(cycle(f.env, "web1"));
    expect(f.calls.filter((c) => /^(hide|putBack)/.test(c))).toEqual([]);
    expect(f.lb.state("web1")).toEqual({ kind: "operator-out", detail });
    expect(message).toContain("restart timed out");
    expect(message).toContain(`(${detail}: left as found.)`);
  });
});

describe("a host in rotation", () => {
  it("a default minInRotation (hosts − batch) is lowered on the balancer by servers an operator took out; a user's is not", async () => {
    const byDefault = fleet([["web1"]], { minInRotation: 2, minInRotationByDefault: true });
    await cycle(byDefault.env, "web1");
    expect(byDefault.lb.hides[0].options.minLessOperatorOut).toBe(true);
    const users = fleet([["web1"]], { minInRotation: 2, minInRotationByDefault: false });
    await cycle(users.env, "web1");
    expect(users.lb.hides[0].options.minLessOperatorOut).toBe(false);
  });

  it("is hidden before its job with minInRotation and a lease of the job's limit + 30 s, put back checked after it, then pruned", async () => {
    const f = fleet([["web1"]], { minInRotation: 2 });
    await expect(cycle(f.env, "web1")).resolves.toEqual([]);
    expect(f.calls).toEqual(["probe web1", "rotation web1", "hide web1", "start web1 switch", "attach web1 job-1", "putBack web1 ready checked", "prune web1"]);
    expect(f.lb.hides).toEqual([{ host: "web1", options: { was: "ready", minInRotation: 2, minLessOperatorOut: false, leaseSeconds: LIMIT + 30 } }]);
    expect(leaseSeconds(f.ops, f.host("web1"))).toBe(LIMIT + 30);
    expect(f.lb.state("web1")).toEqual({ kind: "in", admin: "ready" });
    expect(f.ops.host("web1").current).toBe(TARGET);
  });

  it("in with an admin drain: hidden and put back to drain", async () => {
    const f = fleet();
    f.lb.set("web1", { kind: "in", admin: "drain" });
    await cycle(f.env, "web1");
    expect(f.lb.hides[0].options.was).toBe("drain");
    expect(f.lb.putBacks).toEqual([{ host: "web1", options: { was: "drain", checked: true } }]);
    expect(f.lb.state("web1")).toEqual({ kind: "in", admin: "drain" });
  });

  it("not fronted by the balancer (another role): no rotation read, no hide, no put-back", async () => {
    const f = fleet([["worker1"]], {}, { fronted: [] });
    await expect(cycle(f.env, "worker1")).resolves.toEqual([]);
    expect(f.calls).toEqual(["probe worker1", "start worker1 switch", "attach worker1 job-1", "prune worker1"]);
  });

  it("the job's log reaches the step's stdout, one line ending in a newline", async () => {
    const f = fleet();
    f.ops.host("web1").attaches.push({ outcome: { result: "ok" }, log: "cutover[web1] switch: current -> releases/2-new" });
    await cycle(f.env, "web1");
    expect(f.env.logs).toContain("stdout: cutover[web1] switch: current -> releases/2-new\n");
  });

  it("a prune that fails is a warning: the host still switched", async () => {
    const f = fleet();
    f.ops.host("web1").pruneError = new Error("disk busy");
    await expect(cycleHost(f.env, f.host("web1"), "switch")).resolves.toEqual({ kind: "switched", note: undefined });
    expect(f.env.logs.join("")).toContain("cutover[web1] prune: warning: disk busy; old releases stay until the next deploy");
  });
});

describe("the stability watch (stableSeconds > 0)", () => {
  it("runs after the put-back, alongside the prune", async () => {
    const f = fleet([["web1"]], { stableSeconds: 30 });
    await cycle(f.env, "web1");
    expect(f.calls.slice(-3)).toEqual(["putBack web1 ready checked", "prune web1", "watch web1"]);
  });

  it("failing: hidden again, restored, put back checked; the message says it was switched back and is in rotation", async () => {
    const f = fleet([["web1"]], { stableSeconds: 30 });
    f.ops.host("web1").watches.push({ ok: false, reason: "release 2-new stopped after 12 s" });
    const message = await failureOf(cycle(f.env, "web1"));
    expect(f.calls).toEqual([
      "probe web1",
      "rotation web1",
      "hide web1",
      "start web1 switch",
      "attach web1 job-1",
      "putBack web1 ready checked",
      "prune web1",
      "watch web1",
      "hide web1",
      "start web1 restore",
      "attach web1 job-2",
      "putBack web1 ready checked",
    ]);
    expect(f.ops.host("web1").current).toBe(PREVIOUS);
    expect(f.lb.state("web1")).toEqual({ kind: "in", admin: "ready" });
    expect(message).toBe(
      `cutover: web1 (batch 1) did not switch to ${TARGET}: release 2-new stopped after 12 s. ` +
        "web1 was switched back to its previous release and in rotation; hosts after it were not switched. " +
        "Fix the cause and run `pulumi up` again: it retries from web1.",
    );
  });

  it("failing while the prune still runs: the restore waits for it (both take the host lock)", async () => {
    const f = fleet([["web1"]], { stableSeconds: 30 });
    const s = f.ops.host("web1");
    s.pruneTicks = 20;
    s.watches.push({ ok: false, reason: "release 2-new stopped after 2 s" });
    await failureOf(cycle(f.env, "web1"));
    expect(before(f.calls, "pruned web1", "start web1 restore")).toBe(true);
    expect(s.current).toBe(PREVIOUS);
  });

  it("failing, and the restore job fails too: left out of rotation, the message says so", async () => {
    const f = fleet([["web1"]], { stableSeconds: 30 });
    const s = f.ops.host("web1");
    s.watches.push({ ok: false, reason: "release 2-new stopped after 12 s" });
    s.attaches.push({ outcome: { result: "ok" }, log: "" }, { outcome: { result: "broken", reason: "restart failed" }, log: "" });
    const message = await failureOf(cycle(f.env, "web1"));
    expect(f.calls.slice(-3)).toEqual(["hide web1", "start web1 restore", "attach web1 job-2"]);
    expect(f.lb.putBacks).toHaveLength(1);
    expect(f.lb.state("web1")).toEqual({ kind: "cutover-hidden", was: "ready" });
    expect(message).toContain("web1 (batch 1)");
    expect(message).toContain("going back failed: restart failed. web1 could not be switched back and is left out of rotation: look at the host");
  });
});

describe("a job that did not end ok", () => {
  it("restored (its previous release passed): put back checked after the job; the message names the previous release and says in rotation", async () => {
    const f = fleet([["web0"], ["web1"]]);
    f.ops.host("web0").current = TARGET;
    f.ops.host("web1").attaches.push({ outcome: { result: "restored", previous: PREVIOUS, reason: "smoke test: GET /healthz returned 500" }, log: "" });
    const message = await failureOf(cycle(f.env, "web1"));
    expect(before(f.calls, "attach web1 job-1", "putBack web1 ready checked")).toBe(true);
    expect(f.calls).not.toContain("prune web1");
    expect(f.lb.state("web1")).toEqual({ kind: "in", admin: "ready" });
    expect(message).toBe(
      `cutover: web1 (batch 2) did not switch to ${TARGET}: smoke test: GET /healthz returned 500. ` +
        `web1 is back on its previous release ${PREVIOUS} and in rotation; hosts after it were not switched. ` +
        "Fix the cause and run `pulumi up` again: it retries from web1.",
    );
  });

  it("broken: never put back; the message says it is left out of rotation and to look at the host", async () => {
    const f = fleet();
    f.ops.host("web1").attaches.push({ outcome: { result: "broken", reason: "restart failed; the release it went back to, 1-old, fails too" }, log: "" });
    const message = await failureOf(cycle(f.env, "web1"));
    expect(f.lb.putBacks).toEqual([]);
    expect(f.lb.state("web1")).toEqual({ kind: "cutover-hidden", was: "ready" });
    expect(message).toContain("cutover: web1 (batch 1) did not switch to 2-new: restart failed; the release it went back to, 1-old, fails too.");
    expect(message).toContain("web1 could not be brought back to a working release and is left out of rotation: look at the host.");
    expect(message).toContain("it retries from web1");
  });

  it("failed (a step failed outright): never put back; left out of rotation until its state is known", async () => {
    const f = fleet();
    f.ops.host("web1").attaches.push({ outcome: { result: "failed", reason: "restore: cannot replace current" }, log: "" });
    const message = await failureOf(cycle(f.env, "web1"));
    expect(f.lb.putBacks).toEqual([]);
    expect(message).toContain("web1 (batch 1)");
    expect(message).toContain("restore: cannot replace current");
    expect(message).toContain(`web1 is left out of rotation until its state is known: the load balancer readmits it on its own within ${LIMIT + 30} s of its hide`);
  });

  it("no outcome (unknown): never put back; the message gives the reason and the lease readmission", async () => {
    const f = fleet();
    f.ops.host("web1").attaches.push({ log: "", why: "no outcome from the host's job job-1 within its limit of 420 s (+30 s)" });
    const message = await failureOf(cycle(f.env, "web1"));
    expect(f.lb.putBacks).toEqual([]);
    expect(f.lb.state("web1")).toEqual({ kind: "cutover-hidden", was: "ready" });
    expect(message).toContain("did not switch to 2-new: no outcome from the host's job job-1 within its limit of 420 s (+30 s).");
    expect(message).toContain(`the load balancer readmits it on its own within ${LIMIT + 30} s of its hide`);
    expect(message).toContain("the next `pulumi up` puts it back once it passes its check");
  });
  it("no outcome, behind a balancer without a guard (an AWS target group): the message says the next `pulumi up` puts it back, no readmission", async () => {
    const f = fleet([["web1"]], {}, { guarded: false });
    f.ops.host("web1").attaches.push({ log: "", why: "the host's job job-1 ended without an outcome (killed on the host?)" });
    const message = await failureOf(cycle(f.env, "web1"));
    expect(f.lb.putBacks).toEqual([]);
    expect(message).toContain("web1 is left out of rotation until its state is known: the next `pulumi up` puts it back once it passes its check.");
    expect(message).not.toContain("readmits");
  });
});

describe("a job that never ran", () => {
  it("could not start (the host lock is held): not tried again, put back unchecked; the message says nothing was switched", async () => {
    const f = fleet();
    f.ops.host("web1").starts.push(new JobRefused("the host is locked by alice (stack staging, cycle) since 12:00"));
    const message = await failureOf(cycle(f.env, "web1"));
    expect(f.calls).toEqual(["probe web1", "rotation web1", "hide web1", "start web1 switch", "putBack web1 ready unchecked"]);
    expect(f.lb.state("web1")).toEqual({ kind: "in", admin: "ready" });
    expect(message).toBe(
      "cutover: web1 (batch 1) did not switch to 2-new: the host is locked by alice (stack staging, cycle) since 12:00. " +
        "Nothing was switched on web1. Fix the cause and run `pulumi up` again: it retries from web1.",
    );
  });

  it("never took the host lock (its start's connection dropped): started once more, and that one switches", async () => {
    const f = fleet();
    f.ops.host("web1").attaches.push({ log: "", why: "the job job-1 never started: connection reset", started: false });
    await expect(cycle(f.env, "web1")).resolves.toEqual([]);
    expect(f.calls).toEqual([
      "probe web1",
      "rotation web1",
      "hide web1",
      "start web1 switch",
      "attach web1 job-1",
      "start web1 switch",
      "attach web1 job-2",
      "putBack web1 ready checked",
      "prune web1",
    ]);
    expect(f.ops.host("web1").current).toBe(TARGET);
  });

  it("never took the host lock, twice: put back unchecked; the message says nothing was switched", async () => {
    const f = fleet();
    const never = { log: "", why: "the job job-2 never started: connection reset", started: false } as const;
    f.ops.host("web1").attaches.push(never, never);
    const message = await failureOf(cycle(f.env, "web1"));
    expect(f.ops.count("start web1 switch")).toBe(2);
    expect(f.calls.slice(-1)).toEqual(["putBack web1 ready unchecked"]);
    expect(f.lb.state("web1")).toEqual({ kind: "in", admin: "ready" });
    expect(message).toContain("did not switch to 2-new: the job job-2 never started: connection reset.");
    expect(message).toContain("Nothing was switched on web1");
  });

  it("cancelled (Ctrl-C) while it was being hidden: put back unchecked, no job started", async () => {
    const f = fleet();
    const hide = f.lb.hide.bind(f.lb);
    f.lb.hide = async (h, o) => {
      await hide(h, o);
      f.env.cancel();
    };
    const message = await failureOf(cycle(f.env, "web1"));
    expect(f.calls).toEqual(["probe web1", "rotation web1", "hide web1", "putBack web1 ready unchecked"]);
    expect(f.lb.state("web1")).toEqual({ kind: "in", admin: "ready" });
    expect(message).toContain("the deploy was cancelled before this host switched");
    expect(message).toContain("Nothing was switched on web1");
  });

  it("a job of an earlier attempt still running: attached to first, then probed again", async () => {
    const f = fleet();
    const s = f.ops.host("web1");
    s.probes.push({ state: "running", jobId: "job-earlier" }, { state: "current" });
    await expect(cycle(f.env, "web1")).resolves.toEqual([]);
    expect(f.calls.filter((c) => !c.startsWith("rotation"))).toEqual(["probe web1", "attach web1 job-earlier", "probe web1"]);
  });

  it("a job of an earlier attempt still running after its attach: fails, nothing hidden", async () => {
    const f = fleet();
    f.ops.host("web1").probes.push({ state: "running", jobId: "job-earlier" }, { state: "running", jobId: "job-earlier" });
    const message = await failureOf(cycle(f.env, "web1"));
    expect(f.calls.filter((c) => !c.startsWith("rotation"))).toEqual(["probe web1", "attach web1 job-earlier", "probe web1"]);
    expect(message).toContain("a job of an earlier attempt (job-earlier) is still running on the host");
  });

  it("the release is not prepared: fails before any hide, saying to run the prepare step", async () => {
    const f = fleet();
    f.ops.host("web1").probes.push({ state: "unprepared" });
    const message = await failureOf(cycle(f.env, "web1"));
    expect(f.calls.filter((c) => !c.startsWith("rotation"))).toEqual(["probe web1"]);
    expect(message).toContain("release 2-new is not prepared on this host; run `pulumi up` so its prepare step runs first");
    expect(message).toContain("Nothing was switched on web1");
  });

  it("the hide is refused (minInRotation not met): no job, no put-back; the message gives the hide's reason", async () => {
    const f = fleet();
    const refusal = "hiding web1 would leave 0 other server(s) of backend web in rotation, fewer than minInRotation 1";
    f.lb.hideErrors.set("web1", [new Error(refusal)]);
    const message = await failureOf(cycle(f.env, "web1"));
    expect(f.calls).toEqual(["probe web1", "rotation web1", "hide web1"]);
    expect(f.lb.state("web1")).toEqual({ kind: "in", admin: "ready" });
    expect(message).toContain(`cutover: web1 (batch 1) did not switch to 2-new: ${refusal}.`);
    expect(message).toContain("Nothing was switched on web1");
  });
});

describe("a restore (restoreCycled's way back)", () => {
  it("a host that never reached the target is left alone", async () => {
    const f = fleet();
    await expect(cycleHost(f.env, f.host("web1"), "restore")).resolves.toEqual({ kind: "unchanged" });
    expect(f.calls).toEqual(["probe web1", "rotation web1"]);
  });

  it("a host on the target: hidden, restore job, put back checked, no stability watch", async () => {
    const f = fleet([["web1"]], { stableSeconds: 30 });
    Object.assign(f.ops.host("web1"), { current: TARGET, previous: PREVIOUS });
    await expect(cycleHost(f.env, f.host("web1"), "restore")).resolves.toEqual({ kind: "switched", note: undefined });
    expect(f.calls).toEqual(["probe web1", "rotation web1", "hide web1", "start web1 restore", "attach web1 job-1", "putBack web1 ready checked", "prune web1"]);
    expect(f.ops.host("web1").current).toBe(PREVIOUS);
  });
});

describe("restoreCycled, two hosts per batch", () => {
  /** web1, web2 were switched back by an earlier attempt; web3 and web4 (batch 2) are cycled together. */
  function twoBatches() {
    const f = fleet(
      [
        ["web1", "web2"],
        ["web3", "web4"],
      ],
      { restoreCycled: true },
    );
    for (const n of ["web1", "web2", "web3", "web4"]) f.ops.host(n).current = PREVIOUS;
    return f;
  }

  it("two hosts of the last batch failing at once restore each earlier host exactly once, in reverse order", async () => {
    const f = twoBatches();
    for (const n of ["web3", "web4"]) f.ops.host(n).attaches.push({ outcome: { result: "restored", previous: PREVIOUS, reason: `${n}: smoke test failed` }, log: "" });
    const [m3, m4] = await Promise.all([failureOf(cycle(f.env, "web3")), failureOf(cycle(f.env, "web4"))]);
    // Forward once each, shared by both hosts of the batch.
    expect(f.ops.count("start web1 switch")).toBe(1);
    expect(f.ops.count("start web2 switch")).toBe(1);
    expect(f.ops.count("start web1 restore")).toBe(1);
    expect(f.ops.count("start web2 restore")).toBe(1);
    // Back in reverse order: web2's restore ends (put back) before web1's starts.
    expect(before(f.calls, "start web2 restore", "start web1 restore")).toBe(true);
    expect(f.calls.lastIndexOf("putBack web2 ready checked")).toBeLessThan(f.calls.indexOf("start web1 restore"));
    // The forward cycles of the peers all happened before the batch's own jobs.
    expect(f.calls.lastIndexOf("attach web1 job-1")).toBeLessThan(f.calls.indexOf("start web3 switch"));
    for (const n of ["web1", "web2", "web3", "web4"]) {
      expect(f.ops.host(n).current).toBe(PREVIOUS);
      expect(f.lb.state(n)).toEqual({ kind: "in", admin: "ready" });
    }
    expect(m3).toContain("cutover: web3 (batch 2) did not switch to 2-new: web3: smoke test failed.");
    expect(m4).toContain("cutover: web4 (batch 2) did not switch to 2-new: web4: smoke test failed.");
    for (const m of [m3, m4]) expect(m).toContain("Switched back too (restoreCycled): web2, web1.");
  });

  it("a host whose own step switched it in this deploy is not asked again by later batches", async () => {
    const f = fleet([["web1"], ["web2"], ["web3"]], { restoreCycled: true });
    for (const n of ["web1", "web2", "web3"]) await cycle(f.env, n);
    expect(f.ops.count("probe web1")).toBe(1);
    expect(f.ops.count("probe web2")).toBe(1);
    for (const n of ["web1", "web2", "web3"]) expect(f.ops.host(n).current).toBe(TARGET);
  });

  it("earlier peers already on the target are not cycled forward again", async () => {
    const f = twoBatches();
    f.ops.host("web1").current = TARGET;
    f.ops.host("web2").current = TARGET;
    await expect(Promise.all([cycle(f.env, "web3"), cycle(f.env, "web4")])).resolves.toEqual([[], []]);
    expect(f.calls.filter((c) => c.startsWith("start"))).toEqual(["start web3 switch", "start web4 switch"]);
  });

  it("an earlier peer that fails to go forward stops the batch; the message names the peer and its batch", async () => {
    const f = twoBatches();
    f.ops.host("web1").attaches.push({ outcome: { result: "restored", previous: PREVIOUS, reason: "smoke test failed" }, log: "" });
    const [m3, m4] = await Promise.all([failureOf(cycle(f.env, "web3")), failureOf(cycle(f.env, "web4"))]);
    expect(f.ops.count("start web1 switch")).toBe(1);
    expect(f.calls).not.toContain("start web3 switch");
    expect(f.calls).not.toContain("start web4 switch");
    for (const m of [m3, m4]) {
      expect(m).toContain("cutover: web1 (batch 1) did not switch to 2-new: smoke test failed.");
      expect(m).toContain("it retries from web1");
    }
  });

  it("a failure that leaves the host broken does not switch the earlier hosts back", async () => {
    const f = twoBatches();
    f.ops.host("web3").attaches.push({ outcome: { result: "broken", reason: "restart failed" }, log: "" });
    const message = await failureOf(cycle(f.env, "web3"));
    expect(f.calls.filter((c) => c.endsWith("restore"))).toEqual([]);
    expect(message).not.toContain("Switched back too");
  });

  it("a peer whose restore fails is reported on stderr and not listed as switched back", async () => {
    const f = twoBatches();
    f.ops.host("web3").attaches.push({ outcome: { result: "restored", previous: PREVIOUS, reason: "smoke test failed" }, log: "" });
    // web2: forward ok, then its restore job is broken.
    f.ops.host("web2").attaches.push({ outcome: { result: "ok" }, log: "" }, { outcome: { result: "broken", reason: "1-old fails too" }, log: "" });
    const message = await failureOf(cycle(f.env, "web3"));
    expect(message).toContain("Switched back too (restoreCycled): web1.");
    expect(f.env.logs).toContain("stderr: cutover[web2] restore: 1-old fails too\n");
  });

  it("without restoreCycled, earlier hosts are not touched", async () => {
    const f = fleet([["web1"], ["web2"]]);
    f.ops.host("web2").attaches.push({ outcome: { result: "restored", previous: PREVIOUS, reason: "smoke test failed" }, log: "" });
    await failureOf(cycle(f.env, "web2"));
    expect(f.calls.some((c) => c.includes("web1"))).toBe(false);
  });
});

// Each of these fails against cycle.ts as it stands: a defect reported to the lead, kept red
// until the code is fixed (see the commit that added them).
describe("defects found", () => {
  it("a host an earlier attempt left hidden gets a fresh lease before its new job starts", async () => {
    // The earlier hide's guard readmits the host, unchecked, once that hide's lease ends; a new
    // job started under it (an immediate re-run after a broken or unknown outcome) can be
    // readmitted mid-restart. leaseSeconds says "the guard never readmits a host whose job
    // still runs": that holds only when the job's lease starts before the job does.
    const f = fleet();
    f.lb.set("web1", { kind: "cutover-hidden", was: "ready" });
    await cycle(f.env, "web1");
    expect(f.lb.hides).toEqual([{ host: "web1", options: { was: "ready", minInRotation: 1, minLessOperatorOut: false, leaseSeconds: LIMIT + 30 } }]);
    expect(before(f.calls, "hide web1", "start web1 switch")).toBe(true);
  });

  it("a host an operator took out, whose job restored its previous release, is not said to be in rotation", async () => {
    const f = fleet();
    const detail = "web/web1 is MAINT in HAProxy, set by someone other than Cutover";
    f.lb.set("web1", { kind: "operator-out", detail });
    f.ops.host("web1").attaches.push({ outcome: { result: "restored", previous: PREVIOUS, reason: "smoke test failed" }, log: "" });
    const message = await failureOf(cycle(f.env, "web1"));
    expect(f.lb.state("web1")).toEqual({ kind: "operator-out", detail });
    // Actual: "web1 is back on its previous release 1-old and in rotation; … (… left as found.)"
    expect(message).not.toContain("in rotation;");
  });

  it("a host without a balancer whose job's outcome is unknown is not said to have had nothing switched", async () => {
    const f = fleet([["web1"]], {}, { lb: false });
    f.ops.host("web1").attaches.push({ log: "", why: "the host's job job-1 ended without an outcome (killed on the host?)" });
    const message = await failureOf(cycle(f.env, "web1"));
    // Actual: "… ended without an outcome (killed on the host?). Nothing was switched on web1. …"
    expect(message).not.toContain("Nothing was switched");
  });

  it("a host read while another deployer's job ran is read again after that job: put back meanwhile, it is hidden before this job", async () => {
    // Another agent (another checkout or machine) hid web1 and runs its job; this attempt waits
    // for that job, during which the other agent's job restored and put web1 back. The rotation
    // read beside the first probe (cutover-hidden) is stale by then. Actual: no hide, and the
    // switch job runs on a host in rotation.
    const f = fleet();
    f.lb.set("web1", { kind: "cutover-hidden", was: "ready" });
    f.ops.host("web1").probes.push({ state: "running", jobId: "job-other" });
    const attach = f.ops.attach.bind(f.ops);
    f.ops.attach = async (h, id) => {
      const r = await attach(h, id);
      if (id === "job-other") f.lb.set("web1", { kind: "in", admin: "ready" });
      return r;
    };
    await cycle(f.env, "web1");
    expect(before(f.calls, "hide web1", "start web1 switch")).toBe(true);
  });

  it("a restore job after a failed stability watch that never took the host lock is started once more, as the switch job is", async () => {
    // Actual: one start, then "web1 was switched back to its previous release, and is left out
    // of rotation: look at the host" — web1 was not switched back: it is hidden on the release
    // that failed its watch.
    const f = fleet([["web1"]], { stableSeconds: 30 });
    const s = f.ops.host("web1");
    s.watches.push({ ok: false, reason: "release 2-new stopped after 12 s" });
    s.attaches.push({ outcome: { result: "ok" }, log: "" }, { log: "", why: "the job job-2 never started: connection reset", started: false });
    const message = await failureOf(cycle(f.env, "web1"));
    expect(f.ops.count("start web1 restore")).toBe(2);
    expect(f.ops.host("web1").current).toBe(PREVIOUS);
    expect(f.lb.state("web1")).toEqual({ kind: "in", admin: "ready" });
    expect(message).toContain("web1 was switched back to its previous release and in rotation");
  });

  it("a restore job that cannot start after a failed stability watch fails the step saying the host is left out of rotation", async () => {
    const f = fleet([["web1"]], { stableSeconds: 30 });
    const s = f.ops.host("web1");
    s.watches.push({ ok: false, reason: "release 2-new stopped after 12 s" });
    s.starts.push(undefined, new JobRefused("the host is locked by alice (stack staging, cycle) since 12:00"));
    // Actual: the start's Error escapes cycleHost, so the agent reports "cycle failed: … (is
    // web1 up and reachable over SSH?)" with no word of the hidden host on a release that failed.
    const message = await failureOf(cycle(f.env, "web1"));
    expect(f.lb.state("web1")).toEqual({ kind: "cutover-hidden", was: "ready" });
    expect(message).toContain("web1 (batch 1)");
    expect(message).toContain("left out of rotation");
  });
});

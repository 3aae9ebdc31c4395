// The overlap strategy's order (overlap.ts, through cycle.ts) and the canary (canary.ts) against
// slot models (testing/slots.ts): the new release starts in the idle slot and is checked before
// any traffic moves; the old slot serves until the new one does; a failed start moves nothing;
// a rollback within warmSeconds restarts nothing and moves every warm host in the first wave;
// a canary above its 5xx limit goes back to the warm slot and fails the step with the ratio.
import { describe, expect, it } from "vitest";
import { StepFailure, cycle } from "./cycle";
import type { DeployContext } from "./context";
import { PREVIOUS, TARGET, testContext, testEnv } from "./testing/fakes";
import { FakeSlotMembership, FakeSlotOps } from "./testing/slots";

function fleet(batches: string[][], over: Partial<DeployContext> = {}) {
  const calls: string[] = [];
  const ops = new FakeSlotOps(calls);
  const lb = new FakeSlotMembership(calls);
  const ctx = testContext(batches, { strategy: "overlap", warmSeconds: 300, ...over });
  const env = { ...testEnv(ctx, ops, lb), slotOps: ops };
  return { calls, ops, lb, ctx, env };
}

const failureOf = async (run: Promise<unknown>): Promise<string> => {
  const e = await run.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(StepFailure);
  return (e as StepFailure).message;
};

const order = (calls: string[], ...steps: string[]) => steps.map((s) => calls.indexOf(s));

describe("overlap: one host", () => {
  it("starts the target in the idle slot, checks it, then moves traffic to it and keeps the old slot", async () => {
    const { calls, ops, lb, env } = fleet([["web1"]], { stableSeconds: 3 });
    await cycle(env, "web1");
    const steps = order(calls, "start web1 b 2-new", "restart web1 b", "move web1 a->b", "settle web1 b", "watch web1 b");
    expect(steps.every((i) => i >= 0)).toBe(true);
    expect([...steps].sort((x, y) => x - y)).toEqual(steps);
    expect(lb.serving("web1")).toBe("b");
    expect(ops.slotHost("web1").runs).toEqual({ a: PREVIOUS, b: TARGET });
    expect(calls.some((c) => c.startsWith("hide") || c.startsWith("putBack"))).toBe(false);
  });

  it("moves nothing when the new slot fails its check: the old slot never stopped serving", async () => {
    const { calls, ops, lb, env } = fleet([["web1"]]);
    ops.slotHost("web1").outcomes.push({ result: "restored", previous: PREVIOUS, reason: "smoke test: GET http://127.0.0.1:8081/healthz did not return release 2-new" });
    const message = await failureOf(cycle(env, "web1"));
    expect(message).toMatch(/web1 \(batch 1\) did not switch to 2-new: smoke test: GET http:\/\/127\.0\.0\.1:8081\/healthz/);
    expect(calls.some((c) => c.startsWith("move"))).toBe(false);
    expect(lb.serving("web1")).toBe("a");
  });

  it("leaves a host already serving the target alone", async () => {
    const { calls, ops, lb, env } = fleet([["web1"]]);
    await cycle(env, "web1");
    const before = calls.length;
    expect(lb.serving("web1")).toBe("b");
    expect(ops.slotHost("web1").current).toBe(TARGET);
    await cycle({ ...env, once: (_k, work) => work(), started: () => undefined }, "web1");
    expect(calls.slice(before)).toEqual(["probe web1", "servers web1"]);
  });

  it("goes back to the warm slot when the new one stops passing during stableSeconds", async () => {
    const { calls, ops, lb, env } = fleet([["web1"]], { stableSeconds: 3 });
    ops.slotHost("web1").watches.push({ ok: false, reason: "release 2-new stopped passing its check within 3s" });
    const message = await failureOf(cycle(env, "web1"));
    expect(message).toMatch(/stopped passing its check/);
    // Back on slot a, which still ran the previous release: checked, not restarted.
    expect(calls).toContain("start web1 a 1-old");
    expect(calls).not.toContain("restart web1 a");
    expect(calls.indexOf("move web1 b->a")).toBeGreaterThan(calls.indexOf("start web1 a 1-old"));
    expect(lb.serving("web1")).toBe("a");
  });
});

describe("overlap: a rollback within warmSeconds", () => {
  it("restarts nothing and moves every warm host in the first batch's step", async () => {
    const { calls, ops, lb, env } = fleet([["web1"], ["web2"], ["web3"]]);
    for (const h of ["web1", "web2", "web3"]) await cycle(env, h);
    // The release before is still running in each host's slot a: go back to it by id.
    const back = fleet([["web1"], ["web2"], ["web3"]], { release: { id: PREVIOUS } });
    const env2 = { ...back.env, ops, slotOps: ops, membership: lb };
    ops.target = PREVIOUS;
    const before = calls.length;
    await cycle(env2, "web1");
    // web2 and web3 moved inside web1's step, at once, before their own batches' steps ran.
    const wave = calls.slice(before);
    expect(wave.filter((c) => c.startsWith("move")).sort()).toEqual(["move web1 b->a", "move web2 b->a", "move web3 b->a"]);
    expect(wave.some((c) => c.startsWith("restart"))).toBe(false);
    expect(wave.some((c) => c.startsWith("watch"))).toBe(false);
    const afterWave = calls.length;
    await cycle(env2, "web2");
    await cycle(env2, "web3");
    expect(calls.slice(afterWave)).toEqual([]);
    for (const h of ["web1", "web2", "web3"]) expect(lb.serving(h)).toBe("a");
  });

  it("leaves a host whose warm slot was stopped to its own batch, which restarts it there", async () => {
    const { ops, lb, env, calls } = fleet([["web1"], ["web2"]]);
    for (const h of ["web1", "web2"]) await cycle(env, h);
    ops.slotHost("web2").runs.a = undefined; // its warm time was over
    const back = fleet([["web1"], ["web2"]], { release: { id: PREVIOUS } });
    const env2 = { ...back.env, ops, slotOps: ops, membership: lb };
    ops.target = PREVIOUS;
    const before = calls.length;
    await cycle(env2, "web1");
    expect(calls.slice(before).filter((c) => c.startsWith("move"))).toEqual(["move web1 b->a"]);
    await cycle(env2, "web2");
    expect(calls.slice(before)).toContain("restart web2 a");
    expect(lb.serving("web2")).toBe("a");
  });
});

describe("canary", () => {
  const canary = { holdSeconds: 1, maxErrorRate: 0.05 };

  it("rolls the canary back to its warm slot and fails with the measured ratio above maxErrorRate", async () => {
    const { calls, lb, env } = fleet([["web1"], ["web2"]], { canary });
    // Each read, web1's new slot (b) has answered 100 more requests, 20 of them 500s.
    lb.onRead = (host, slot) => {
      const c = lb.counts.get(`${host}/${slot}`) ?? { total: 0, serverErrors: 0 };
      lb.counts.set(`${host}/${slot}`, { total: c.total + 100, serverErrors: c.serverErrors + 20 });
    };
    const message = await failureOf(cycle(env, "web1"));
    expect(message).toMatch(/web1 \(batch 1, the canary\) failed its canary hold: 5xx ratio 20% \(20 of 100 responses in [\d.]+ s\), maxErrorRate 5%/);
    expect(message).toMatch(/traffic is back on slot a, which still ran 1-old \(no restart\)/);
    expect(message).toContain("Later batches were not started");
    expect(lb.serving("web1")).toBe("a");
    expect(calls).not.toContain("restart web1 a");
  });

  it("lets a canary under its limit through, then the next batch", async () => {
    const { lb, env } = fleet([["web1"], ["web2"]], { canary });
    lb.onRead = (host, slot) => {
      const c = lb.counts.get(`${host}/${slot}`) ?? { total: 0, serverErrors: 0 };
      lb.counts.set(`${host}/${slot}`, { total: c.total + 100, serverErrors: c.serverErrors + 1 });
    };
    await cycle(env, "web1");
    await cycle(env, "web2");
    expect(env.phases.find((p) => p.phase === "canary-passed")?.detail).toMatch(/^5xx ratio 1% \(\d+ of \d+ responses in [\d.]+ s\)/);
    expect(env.phases.some((p) => p.host === "web2" && p.phase.startsWith("canary"))).toBe(false);
    expect(lb.serving("web2")).toBe("b");
  });
});

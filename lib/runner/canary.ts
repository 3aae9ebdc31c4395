/**
 * The canary's hold: after a host of the first batch switched, its server's responses are
 * watched through the balancer's own counters (HAProxy's per-server hrsp_5xx against all its
 * responses) for `holdSeconds`. Above `maxErrorRate` the host goes back (overlap: traffic moves
 * back to the warm slot; cycle: the restore job) and the step fails with what was measured,
 * so no later batch starts. Judged early once enough responses arrived; at the end on what
 * there was (no response at all: nothing to hold against, it passes and says so).
 */
import type { CycleEnv } from "./cycle";
import type { HostContext } from "./context";
import type { SlotName } from "../scripts/standby";

export interface CanaryPlan {
  holdSeconds: number;
  /** Largest share of 5xx responses (0–1) the canary may answer. */
  maxErrorRate: number;
}

/** Responses before a ratio is judged ahead of the hold's end: one error in five requests is not a rate. */
const EARLY_VERDICT_RESPONSES = 50;
const POLL_MS = 1000;

export type CanaryVerdict = { ok: true; detail: string } | { ok: false; detail: string };

const percent = (x: number) => `${(x * 100).toFixed(1).replace(/\.0$/, "")}%`;

export async function holdCanary(env: CycleEnv, h: HostContext, plan: CanaryPlan, slot?: SlotName): Promise<CanaryVerdict> {
  const lb = env.membership;
  if (!lb?.responses || !lb.fronts(h)) return { ok: true, detail: "no balancer counts responses for this host: nothing to hold against" };
  const started = Date.now();
  const base = await lb.responses(h, slot);
  env.phase(h.name, "canary-hold", `${plan.holdSeconds} s, above ${percent(plan.maxErrorRate)} 5xx rolls back`);
  const end = started + plan.holdSeconds * 1000;
  for (;;) {
    await new Promise((r) => setTimeout(r, Math.max(0, Math.min(POLL_MS, end - Date.now()))));
    const now = await lb.responses(h, slot);
    const total = now.total - base.total;
    const errors = now.serverErrors - base.serverErrors;
    const ratio = total > 0 ? errors / total : 0;
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const measured = `5xx ratio ${percent(ratio)} (${errors} of ${total} responses in ${seconds} s), maxErrorRate ${percent(plan.maxErrorRate)}`;
    const over = Date.now() >= end;
    if (ratio > plan.maxErrorRate && (total >= EARLY_VERDICT_RESPONSES || over)) {
      env.phase(h.name, "canary-failed", measured);
      return { ok: false, detail: measured };
    }
    if (over) {
      const detail = total === 0 ? `no response during its ${plan.holdSeconds} s hold: nothing to judge` : measured;
      env.phase(h.name, "canary-passed", detail);
      return { ok: true, detail };
    }
  }
}

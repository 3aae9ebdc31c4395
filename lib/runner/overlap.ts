/**
 * A host's cycle under the `overlap` strategy, decided here (cycle.ts hands overlap hosts to
 * this file; everything else about a step, batches and failures stays there):
 *
 *   probe (host: target prepared? what each slot runs and whether it passes) ‖ both servers (balancer)
 *     │  the slot whose server is in rotation serves (S); the other (I) is idle
 *     ├─ S already runs the target and passes, I out ─► unchanged
 *     ▼
 *   standby job on I: the target starts there and is checked on I's own port (a slot that still
 *     │  runs the target warm is only checked: no restart)     fails ─► I stopped, `current`
 *     │                                                          back; S never stopped serving
 *     ▼
 *   move: I in rotation (checked), then S to maint and drained ─► settle: record I, stop S
 *   after warmSeconds ─► stable for stableSeconds? (not after a warm move: that release served
 *   until moments ago) ─► prune ─► switched
 *                        └─ no: S (still warm) checked, traffic moved back ─► failed
 *
 * The host never has fewer servers in rotation than one, so a batch takes no capacity away;
 * minInRotation and the hide lease do not apply. A host whose servers an operator took out is
 * switched in the slot it has, serving nobody, and left as found.
 */
import { randomBytes } from "node:crypto";
import { CycleEnv, HostResult, startAndAttach } from "./cycle";
import { HostContext } from "./context";
import type { CycleProbe, JobOutcome } from "../scripts/host-job";
import { SlotName, SlotsProbe, otherSlot } from "../scripts/standby";

/** The host-side steps of an overlap cycle (over SSH in host-ops.ts). */
export interface SlotOps {
  probeSlots(h: HostContext): Promise<{ probe: CycleProbe; slots: SlotsProbe }>;
  /** Starts the standby job for `releaseId` in `slot`; resolves with its id (throws JobRefused when the host refused it). */
  startInSlot(h: HostContext, slot: SlotName, releaseId: string): Promise<string>;
  /** Whether the slot kept passing its check for stableSeconds. */
  watchSlot(h: HostContext, slot: SlotName): Promise<{ ok: true } | { ok: false; reason: string }>;
  /** Records the serving slot and schedules the other's stop after warmSeconds. */
  settle(h: HostContext, serving: SlotName): Promise<void>;
}

export const newToken = () => randomBytes(6).toString("hex");

/** The standby job for `releaseId` in `slot`, and its outcome (cycle.ts's startAndAttach). */
const runInSlot = (env: CycleEnv, slotOps: SlotOps, h: HostContext, slot: SlotName, releaseId: string) =>
  startAndAttach(env, h, () => slotOps.startInSlot(h, slot, releaseId), "overlap");

/**
 * One host to the target. `warmOnly`: only if the idle slot already runs the target and passes
 * (a rollback within warmSeconds); otherwise nothing is done and the result is undefined.
 */
export async function overlapHost(env: CycleEnv, slotOps: SlotOps, h: HostContext, warmOnly = false): Promise<HostResult | undefined> {
  const { ctx } = env;
  const target = ctx.release.id;
  const lb = env.membership?.fronts(h) ? env.membership.slots : undefined;
  env.phase(h.name, "lock");
  let [{ probe, slots }, servers] = await Promise.all([slotOps.probeSlots(h), lb?.servers(h)]);
  if (probe.state === "running") {
    env.log("stderr", `cutover[${h.name}] overlap: a job of an earlier attempt (${probe.jobId}) is still running; waiting for it\n`);
    await env.ops.attach(h, probe.jobId);
    [{ probe, slots }, servers] = await Promise.all([slotOps.probeSlots(h), lb?.servers(h)]);
  }
  if (probe.state === "unprepared") {
    return { kind: "failed", why: `release ${target} is not prepared on this host; run \`pulumi up\` so its prepare step runs first`, rotation: "in" };
  }
  if (probe.state === "running") return { kind: "failed", why: `a job of an earlier attempt (${probe.jobId}) is still running on the host`, rotation: "in" };

  // Which slot serves: the balancer's word; where it fronts nothing, the host's own record.
  const inRotation = servers ? (["a", "b"] as const).filter((s) => servers[s].inRotation) : [];
  const serving: SlotName =
    inRotation.length === 1 ? inRotation[0] : inRotation.length === 2 ? (slots.a.passes ? "b" : "a") : (slots.serving ?? "a");
  const operatorOut = servers !== undefined && inRotation.length === 0 && !servers[serving].ours;
  const currentIsTarget = probe.state === "current" || (probe.state === "switch" && probe.was === target);
  const untouched = operatorOut ? ("as-found" as const) : servers ? ("in" as const) : ("none" as const);
  const note = operatorOut ? `${h.name}'s servers were out of rotation by someone else's hand: left as found` : undefined;

  if (currentIsTarget && slots[serving].passes && (!servers || operatorOut || inRotation.length === 1)) {
    if (slots.serving !== serving) await slotOps.settle(h, serving);
    env.phase(h.name, "unchanged", `already on ${target} (slot ${serving})`);
    return { kind: "unchanged" };
  }
  if (note) env.phase(h.name, "left-as-found", note);
  if (env.cancelled()) return { kind: "failed", why: "the deploy was cancelled before this host switched", rotation: untouched, note };

  // A host serving nobody (an operator's) switches in the slot it has: nothing to overlap with.
  const idle = operatorOut ? serving : otherSlot(serving);
  if (warmOnly && (operatorOut || slots[idle].release !== target || !slots[idle].passes)) return undefined;
  env.phase(h.name, "switch", `starting ${target} in slot ${idle}`);
  const attached = await runInSlot(env, slotOps, h, idle, target);
  const failed = (why: string, outcome?: JobOutcome, unknown?: boolean): HostResult => ({ kind: "failed", why, outcome, unknown, rotation: untouched, note });
  if (attached.started === false) return failed(attached.why ?? "the host's job did not start");
  const outcome = attached.outcome;
  if (!outcome) return failed(attached.why ?? "the outcome of the host's job is unknown", undefined, true);
  if (outcome.result !== "ok") {
    if (outcome.result === "restored") env.phase(h.name, "restored", `slot ${serving} kept serving ${outcome.previous}`);
    return failed(outcome.reason, outcome);
  }
  env.phase(h.name, "switched", outcome.warm ? `slot ${idle} was warm: no restart` : `slot ${idle}`);
  const move = async (to: SlotName, from: SlotName) => {
    if (!lb || !servers || operatorOut) return;
    env.phase(h.name, "unhide", `traffic to slot ${to}`);
    await lb.move(h, { to, from: inRotation.length ? from : undefined, was: servers[from].admin });
    env.phase(h.name, "in-rotation", `slot ${to} serves, slot ${from} ${ctx.warmSeconds > 0 ? `warm for ${ctx.warmSeconds} s` : "stopping"}`);
  };
  try {
    await move(idle, serving);
  } catch (e) {
    return failed(`moving traffic to slot ${idle} failed: ${(e as Error).message}; the next \`pulumi up\` finishes the move`, undefined, true);
  }
  // Recording the serving slot (and timing the old one's stop) runs beside the watch below:
  // neither changes what serves.
  const settled = idle !== serving ? slotOps.settle(h, idle).then(() => undefined, (e: Error) => e) : Promise.resolve(undefined);
  // Back to the slot that served before: still warm (its release was kept by the prune), so
  // only checked and given the traffic again.
  const goBack = async (): Promise<{ back: boolean; more: string; warm?: boolean }> => {
    const previous = slots[serving].release;
    try {
      const again = previous ? await runInSlot(env, slotOps, h, serving, previous) : undefined;
      if (again?.outcome?.result !== "ok") {
        return { back: false, more: `; going back failed: ${again?.outcome && "reason" in again.outcome ? again.outcome.reason : (again?.why ?? "no release recorded for the other slot")}` };
      }
      await move(serving, idle);
      await slotOps.settle(h, serving);
      env.phase(h.name, "restored", `traffic back on slot ${serving} (${previous}${again.outcome.warm ? ", warm: no restart" : ""})`);
      return { back: true, more: "", warm: again.outcome.warm === true };
    } catch (e) {
      return { back: false, more: `; going back failed: ${(e as Error).message}` };
    }
  };
  const pruned = env.ops.prune(h).catch((e: Error) => env.log("stderr", `cutover[${h.name}] prune: warning: ${e.message}; old releases stay until the next deploy\n`));
  // A warm slot served that very release until moments ago: no stability window to wait out.
  if (!outcome.warm && ctx.stableSeconds > 0 && idle !== serving) {
    env.phase(h.name, "stable-watch", `${ctx.stableSeconds} s`);
    const stable = await slotOps.watchSlot(h, idle);
    if (!stable.ok) {
      env.phase(h.name, "unstable", stable.reason);
      await Promise.all([pruned, settled]);
      const { back, more } = await goBack();
      return { kind: "failed", why: `${stable.reason}${more}`, outcome: { result: "unstable", reason: stable.reason, back }, rotation: untouched, note };
    }
    env.phase(h.name, "stable");
  }
  await pruned;
  const notSettled = await settled;
  if (notSettled) env.log("stderr", `cutover[${h.name}] overlap: warning: ${notSettled.message}; slot ${serving} keeps running until the next deploy settles it\n`);
  const undo = async () => {
    const { back, more, warm } = await goBack();
    const how = warm ? `which still ran ${slots[serving].release} (no restart)` : `where ${slots[serving].release} was started again`;
    return { back, detail: back ? `traffic is back on slot ${serving}, ${how}` : more.replace(/^; /, "") };
  };
  return { kind: "switched", note, undo: idle !== serving && slots[serving].release ? undo : undefined, slot: idle, warm: outcome.warm === true };
}

/**
 * A host's cycle, decided here and only here: the order of probe, hide, the durable job on the
 * host, put-back, the stability watch and prune, and what each outcome means for rotation.
 *
 *   probe ─ already on the target and passing its check ─► (put back if an earlier attempt
 *     │                                                      left it hidden) unchanged
 *     ├─ a job of an earlier attempt still running ─► attach to it, probe again
 *     ▼
 *   read the balancer's state of the host (operator's MAINT: no hide, no put-back)
 *   hide (minInRotation, marker, lease guard) ─► start the job ─► attach (re-attach through
 *   reconnects) ─► outcome:
 *     ok        put back, checked ─► stable for stableSeconds? ─► prune ─► switched
 *                                       └─ no: hide, restore job, put back ─► failed
 *     restored  put back, checked (its previous release passed in this cycle) ─► failed
 *     broken / failed / unknown   left out of rotation (the lease guard readmits it unchecked
 *               if nobody does: HAProxy's own checks decide) ─► failed
 *
 * A host goes back into rotation only when its outcome is known good, and only to the state it
 * had; the host's side never depends on this process staying alive (see scripts/host-job.ts).
 */
import { DeployContext, HostContext, batchOf, hostOf } from "./context";
import { Phase } from "./events";
import { Membership, PriorState } from "./membership";
import { JobOutcome } from "../scripts/host-job";
import { SlotOps, overlapHost } from "./overlap";
import { holdCanary } from "./canary";
import type { SlotName } from "../scripts/standby";

/** A step that did not achieve its purpose; the message says what happened and what to do. */
export class StepFailure extends Error {}

/** The host refused to start a job (its lock is held, the release is missing): retrying will not help. */
export class JobRefused extends Error {}

/** The host-side operations of a cycle (over SSH in host-ops.ts; faked in unit tests). */
export interface HostOps {
  probe(h: HostContext): Promise<import("../scripts/host-job").CycleProbe>;
  /**
   * Starts a durable job; resolves with its id once it holds the host lock. Throws JobRefused
   * when the host refused it; any other error (a dropped connection) may be retried.
   */
  start(h: HostContext, kind: "switch" | "restore"): Promise<string>;
  /**
   * The job's outcome, waiting (bounded) through dropped connections; no outcome: unknown,
   * unless `started` is false (the job never took the lock: nothing changed).
   */
  attach(h: HostContext, jobId: string): Promise<{ outcome?: JobOutcome; log: string; why?: string; started?: false }>;
  /** Whether the host kept passing its check for stableSeconds. */
  watch(h: HostContext): Promise<{ ok: true } | { ok: false; reason: string }>;
  prune(h: HostContext): Promise<void>;
  /** The longest a job on this host can run (its commands' limits added up). */
  jobLimitSeconds(h: HostContext): number;
}

/**
 * How long after a hide the balancer side readmits a host nobody put back (the agent died):
 * the job's own bound plus room, so the guard never readmits a host whose job still runs.
 */
export const leaseSeconds = (ops: HostOps, h: HostContext) => ops.jobLimitSeconds(h) + 30;

export interface CycleEnv {
  ctx: DeployContext;
  ops: HostOps;
  /** The host-side steps of the overlap strategy (ctx.strategy "overlap"). */
  slotOps?: SlotOps;
  membership?: Membership;
  log(stream: "stdout" | "stderr", text: string): void;
  phase(host: string, phase: Phase, detail?: string): void;
  /** The caller asked to stop (Ctrl-C): finish what is safe, start nothing new. */
  cancelled(): boolean;
  /** Runs `work` once per deploy registration for `key`; later callers share its result. */
  once<T>(key: string, work: () => Promise<T>): Promise<T>;
  /** What `once` started for `key`, if anything has. */
  started<T>(key: string): Promise<T> | undefined;
}

/** Where a failed host stands with the balancer: put back, left hidden, untouched (an operator's), or not fronted. */
export type RotationAfter = "in" | "out" | "as-found" | "none";

export type HostResult =
  | { kind: "unchanged"; note?: string }
  | {
      kind: "switched";
      note?: string;
      /** Takes the host back to the release it had (a canary that failed its hold). */
      undo?: () => Promise<{ back: boolean; detail: string }>;
      /** The overlap slot now serving. */
      slot?: SlotName;
      /** overlap: the slot already ran the release (no restart). */
      warm?: boolean;
    }
  | {
      kind: "failed";
      why: string;
      /** The job's outcome; absent: nothing was switched, unless `unknown`. */
      outcome?: JobOutcome | { result: "unstable"; reason: string; back: boolean };
      /** The job ran but its outcome could not be read: the host may or may not have switched. */
      unknown?: boolean;
      rotation: RotationAfter;
      note?: string;
    };

const logOf = (env: CycleEnv, log: string) => log && env.log("stdout", log.endsWith("\n") ? log : `${log}\n`);

/** One host to the target release (`switch`) or back to its previous one (`restore`). */
export async function cycleHost(env: CycleEnv, h: HostContext, kind: "switch" | "restore"): Promise<HostResult> {
  const { ctx, ops } = env;
  const lb = env.membership?.fronts(h) ? env.membership : undefined;
  env.phase(h.name, "lock");
  // The host and the balancer are read at once: two hosts, two round trips in parallel.
  let [probe, rotation] = await Promise.all([ops.probe(h), lb?.rotation(h)]);
  if (probe.state === "running") {
    env.log("stderr", `cutover[${h.name}] cycle: a job of an earlier attempt (${probe.jobId}) is still running; waiting for it\n`);
    await ops.attach(h, probe.jobId);
    // Both again: the balancer may have changed while that job ran (another agent put it back).
    [probe, rotation] = await Promise.all([ops.probe(h), lb?.rotation(h)]);
  }
  const untouched: RotationAfter = !lb ? "none" : rotation?.kind === "operator-out" ? "as-found" : rotation?.kind === "cutover-hidden" ? "out" : "in";
  if (probe.state === "unprepared") {
    return { kind: "failed", why: `release ${ctx.release.id} is not prepared on this host; run \`pulumi up\` so its prepare step runs first`, rotation: untouched };
  }
  if (probe.state === "running") return { kind: "failed", why: `a job of an earlier attempt (${probe.jobId}) is still running on the host`, rotation: untouched };
  if (kind === "restore" && !(probe.state === "current" || (probe.state === "switch" && probe.was === ctx.release.id))) {
    return { kind: "unchanged" }; // never reached the target: nothing to switch back
  }
  if (kind === "switch" && probe.state === "current") {
    if (lb && rotation?.kind === "cutover-hidden") {
      // An earlier attempt hid it and never put it back; it passes its check right now.
      env.phase(h.name, "unhide", "left out of rotation by an earlier attempt");
      await lb.putBack(h, { was: rotation.was, checked: true });
      env.phase(h.name, "in-rotation");
    }
    env.phase(h.name, "unchanged", `already on ${ctx.release.id}`);
    return { kind: "unchanged" };
  }
  const note = rotation?.kind === "operator-out" ? `${rotation.detail}: left as found` : undefined;
  if (note) env.phase(h.name, "left-as-found", note);
  const was: PriorState = rotation?.kind === "in" ? rotation.admin : rotation?.kind === "cutover-hidden" ? rotation.was : "ready";
  const managed = lb !== undefined && rotation?.kind !== "operator-out";
  // Where the host stands when it is left as it is after being hidden.
  const hidden: RotationAfter = managed ? "out" : untouched;
  const restoredTo: RotationAfter = managed ? "in" : untouched;
  // Hidden even when an earlier attempt left it hidden: a fresh marker and lease for this job.
  const hide = async () => {
    if (!lb || !managed) return;
    env.phase(h.name, "hide");
    await lb.hide(h, { was, minInRotation: ctx.minInRotation, minLessOperatorOut: ctx.minInRotationByDefault, leaseSeconds: leaseSeconds(ops, h) });
    env.phase(h.name, "hidden");
  };
  const putBack = async (checked: boolean) => {
    if (!lb || !managed) return;
    env.phase(h.name, "unhide");
    await lb.putBack(h, { was, checked });
    env.phase(h.name, "in-rotation");
  };

  try {
    await hide();
  } catch (e) {
    return { kind: "failed", why: (e as Error).message, rotation: untouched, note };
  }
  if (env.cancelled()) {
    // Nothing changed on the host: back as it was, the balancer's checks deciding.
    await putBack(false);
    return { kind: "failed", why: "the deploy was cancelled before this host switched", rotation: restoredTo, note };
  }
  env.phase(h.name, "switch");
  const attached = await startAndAttach(env, h, () => ops.start(h, kind));
  if (attached.started === false) {
    // The job never started (the lock is held, the host refused): nothing changed.
    await putBack(false);
    return { kind: "failed", why: attached.why ?? "the host's job did not start", rotation: restoredTo, note };
  }
  const { outcome, why } = attached;
  if (!outcome) return { kind: "failed", why: why ?? "the outcome of the host's job is unknown", unknown: true, rotation: hidden, note };
  if (outcome.result === "broken" || outcome.result === "failed") return { kind: "failed", why: outcome.reason, outcome, rotation: hidden, note };
  if (outcome.result === "restored") {
    env.phase(h.name, "restored", outcome.reason);
    await putBack(true);
    return { kind: "failed", why: outcome.reason, outcome, rotation: restoredTo, note };
  }
  env.phase(h.name, "switched");
  await putBack(true);
  // The prune keeps current and previous, so it runs during the watch instead of after it;
  // a restore waits for it (both take the host lock).
  const pruned = ops.prune(h).catch((e: Error) => env.log("stderr", `cutover[${h.name}] prune: warning: ${e.message}; old releases stay until the next deploy\n`));
  if (kind === "switch" && ctx.stableSeconds > 0) {
    env.phase(h.name, "stable-watch", `${ctx.stableSeconds} s`);
    const stable = await ops.watch(h);
    if (!stable.ok) {
      env.phase(h.name, "unstable", stable.reason);
      await pruned;
      // A release that died after its check: hidden again, back to the previous release.
      let back = false;
      let more = "";
      try {
        await hide();
        const restored = await startAndAttach(env, h, () => ops.start(h, "restore"));
        back = restored.outcome?.result === "ok";
        if (back) {
          env.phase(h.name, "restored", "went back to its previous release after it stopped passing its check");
          await putBack(true);
        } else {
          more = `; going back failed: ${restored.outcome && "reason" in restored.outcome ? restored.outcome.reason : restored.why ?? "no outcome"}`;
        }
      } catch (e) {
        more = `; going back failed: ${(e as Error).message}`;
      }
      return { kind: "failed", why: `${stable.reason}${more}`, outcome: { result: "unstable", reason: stable.reason, back }, rotation: back ? restoredTo : hidden, note };
    }
    env.phase(h.name, "stable");
  }
  await pruned;
  return { kind: "switched", note };
}

/**
 * Starts a job (`start`, which resolves with its id) and reads its outcome. A start whose
 * connection dropped may not have started the job: then (and only then) once more. A start the
 * host refused (JobRefused) is not retried. Used by both strategies (overlap.ts's standby job).
 */
export async function startAndAttach(env: CycleEnv, h: HostContext, start: () => Promise<string>, step = "cycle"): Promise<Awaited<ReturnType<HostOps["attach"]>>> {
  for (let attempt = 1; ; attempt++) {
    let jobId: string;
    try {
      jobId = await start();
    } catch (e) {
      if (e instanceof JobRefused || attempt === 2) return { log: "", why: (e as Error).message, started: false };
      env.log("stderr", `cutover[${h.name}] ${step}: ${(e as Error).message}; trying once more\n`);
      continue;
    }
    const attached = await env.ops.attach(h, jobId);
    logOf(env, attached.log);
    if (attached.started !== false || attempt === 2) return attached;
  }
}

/**
 * The cycle step of one host. With restoreCycled, the hosts of earlier batches go forward first
 * (an earlier attempt switched them back), and a failure switches them back again. Several
 * hosts of one batch share those peer cycles (`once`), so two never contend for a peer's lock.
 */
export async function cycle(env: CycleEnv, hostName: string): Promise<string[]> {
  const { ctx } = env;
  const h = hostOf(ctx, hostName);
  const batch = batchOf(ctx, h.name);
  if (ctx.strategy === "overlap") {
    const slotOps = env.slotOps;
    if (!slotOps) throw new Error("internal: the overlap strategy without its host operations");
    // A host an earlier batch already moved in a warm wave (below) is done.
    const wave = env.started<HostResult | undefined>(`warm|${h.name}`);
    const r = (wave && (await wave)) || (await overlapHost(env, slotOps, h))!;
    if (r.kind === "failed") throw failure(env, h, r, []);
    await canary(env, h, r);
    // A rollback within warmSeconds: the first batch found its release still running in the idle
    // slot. Moving traffic back restarts nothing and never lowers capacity, so every later host
    // whose idle slot is as warm moves now, at once; any other host waits for its own batch.
    if (r.kind === "switched" && r.warm && batch === 1 && !ctx.canary) {
      const later = ctx.batches.filter((b) => b.index > 1).flatMap((b) => b.hosts).map((n) => hostOf(ctx, n));
      await Promise.all(later.map((p) => env.once(`warm|${p.name}`, () => overlapHost(env, slotOps, p, true).catch(() => undefined))));
    }
    return r.note ? [r.note] : [];
  }
  const earlier = ctx.batches.filter((b) => b.index < batch).flatMap((b) => b.hosts).map((n) => hostOf(ctx, n));
  if (ctx.restoreCycled) {
    for (const peer of earlier) {
      const r = await env.once(`forward|${peer.name}`, () => cycleHost(env, peer, "switch"));
      if (r.kind === "failed") throw failure(env, peer, r, []);
    }
  }
  const r = await cycleHost(env, h, "switch");
  if (r.kind === "switched") await canary(env, h, { ...r, undo: async () => {
    const back = await cycleHost(env, h, "restore");
    return back.kind === "failed" ? { back: false, detail: back.why } : { back: true, detail: "it is back on its previous release" };
  } });
  if (r.kind !== "failed") {
    // Later batches' steps need not ask this host again whether it went forward: it just did.
    if (ctx.restoreCycled) await env.once(`forward|${h.name}`, async () => r);
    return r.note ? [r.note] : [];
  }
  const restoredPeers: string[] = [];
  // Only a host that is itself back on its previous release takes the others back with it.
  const healthyAfter = r.outcome?.result === "restored" || (r.outcome?.result === "unstable" && r.outcome.back);
  if (ctx.restoreCycled && healthyAfter) {
    for (const peer of [...earlier].reverse()) {
      const back = await env.once(`restore|${peer.name}`, () => cycleHost(env, peer, "restore"));
      if (back.kind === "switched") restoredPeers.push(peer.name);
      else if (back.kind === "failed") env.log("stderr", `cutover[${peer.name}] restore: ${back.why}\n`);
    }
  }
  throw failure(env, h, r, restoredPeers);
}

/**
 * A host of the first batch that switched holds as the canary (ctx.canary): on a breach it goes
 * back (undo) and the step fails with what was measured, so no later batch starts.
 */
async function canary(env: CycleEnv, h: HostContext, r: HostResult): Promise<void> {
  const { ctx } = env;
  if (!ctx.canary || r.kind !== "switched" || batchOf(ctx, h.name) !== 1 || !env.membership?.fronts(h)) return;
  const verdict = await holdCanary(env, h, ctx.canary, r.slot);
  if (verdict.ok) return;
  const undone = r.undo ? await r.undo() : { back: false, detail: "there is nothing to go back to" };
  env.phase(h.name, "failed", `canary: ${verdict.detail}`);
  throw new StepFailure(
    `cutover: ${h.name} (batch 1, the canary) failed its canary hold: ${verdict.detail}. ` +
      (undone.back ? `Rolled back: ${undone.detail}. ` : `Rolling it back failed: ${undone.detail}; look at the host. `) +
      "Later batches were not started. Fix the release and run `pulumi up` again.",
  );
}

function failure(env: CycleEnv, h: HostContext, r: Extract<HostResult, { kind: "failed" }>, restoredPeers: string[]): StepFailure {
  const { ctx } = env;
  env.phase(h.name, "failed", r.why);
  const o = r.outcome;
  const where = `cutover: ${h.name} (batch ${batchOf(ctx, h.name)}) did not switch to ${ctx.release.id}: ${r.why}.`;
  const rotation = r.rotation === "in" ? " and in rotation" : r.rotation === "out" ? " and is left out of rotation" : "";
  const readmits =
    r.rotation === "out" && env.membership?.guarded
      ? `the load balancer readmits it on its own within ${leaseSeconds(env.ops, h)} s of its hide (its health checks deciding), or `
      : "";
  const state =
    o?.result === "restored"
      ? ` ${h.name} is back on its previous release ${o.previous}${rotation}; hosts after it were not switched.`
      : o?.result === "unstable"
        ? o.back
          ? ` ${h.name} was switched back to its previous release${rotation}; hosts after it were not switched.`
          : ` ${h.name} could not be switched back${rotation}: look at the host.`
        : o?.result === "broken"
          ? ` ${h.name} could not be brought back to a working release${rotation}: look at the host.`
          : r.unknown || o?.result === "failed"
            ? r.rotation === "out"
              ? ` ${h.name} is left out of rotation until its state is known: ${readmits}the next \`pulumi up\` puts it back once it passes its check.`
              : ` What ${h.name} runs now is not known: the next \`pulumi up\` finds out.`
            : ` Nothing was switched on ${h.name}.`;
  const peers = restoredPeers.length ? ` Switched back too (restoreCycled): ${restoredPeers.join(", ")}.` : "";
  const kept = r.note ? ` (${r.note}.)` : "";
  return new StepFailure(`${where}${state}${peers}${kept} Fix the cause and run \`pulumi up\` again: it retries from ${h.name}.`);
}

/**
 * The host-side operations of a cycle (cycle.ts's HostOps) over the pooled SSH connection:
 * each is one bounded remote command built by lib/scripts/host-job.ts. Attaching to a job
 * survives a dropped connection: the job runs on without it, so the runner dials again and
 * asks again until the job's own bound has passed.
 */
import { randomBytes } from "node:crypto";
import { DeployContext, HostContext, checkFor } from "./context";
import { HostOps, JobRefused } from "./cycle";
import { SlotOps, newToken } from "./overlap";
import { SlotCommands, SlotName, otherSlot, parseSlotsProbe, settleSlots } from "../scripts/standby";
import { SshPool } from "./ssh-pool";
import { pruneReleases } from "../scripts/prune";
import {
  AttachReply,
  CycleHostArgs,
  HostCheck,
  JobArgs,
  attachJob,
  jobLimitSeconds,
  parseAttach,
  parseCycleProbe,
  parseStable,
  probeCycle,
  startJob,
  watchStable,
} from "../scripts/host-job";

/** One attach waits at most this long on the host before asking again (keeps channels short). */
const ATTACH_WAIT_SECONDS = 10;
/**
 * How long past its own bounded wait a start or an attach may stay silent while the host is out
 * of rotation. Either is safe to give up on (the job runs on, and the next attach asks again on
 * a fresh channel), so a channel that went quiet costs seconds, not a long margin: a session
 * killed mid-switch once kept web1 hidden 53 s, a start waiting out 20 + 30 s.
 */
const JOB_CHANNEL_SLACK_SECONDS = 10;
/** Room for the SSH round trip around a command's own bounded work. */
const MARGIN_SECONDS = 30;

/** The host's check; `port` for an HTTP check on another slot than the host's usual port. */
export function hostCheck(ctx: DeployContext, h: HostContext, port = h.app.port): HostCheck {
  const c = checkFor(ctx, h);
  if (c.kind === "http") return { kind: "http", url: `http://${h.app.address}:${port}${c.path}`, deadlineSeconds: c.deadlineSeconds };
  return c;
}

const limitsOf = (ctx: DeployContext) => ({ restart: ctx.timeouts.restart, alive: ctx.timeouts.alive, checkCommand: ctx.timeouts.checkCommand });

/** A read-only command: run again once when the connection dropped under it. */
async function readOnly(
  pool: SshPool,
  log: (stream: "stdout" | "stderr", text: string) => void,
  h: HostContext,
  step: string,
  script: string,
  limitSeconds: number,
): Promise<string> {
  const r = await pool.runReadOnly(h.ssh, script, { limitSeconds }, (why) => log("stderr", `cutover[${h.name}] ${step}: ${why}; trying once more\n`));
  if (r.code !== 0) throw new Error(`${step} on ${h.name} failed: ${lastLines(r.stderr) || r.abnormal || `exit ${r.code}`}`);
  return r.stdout;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const lastLines = (text: string, n = 3) => text.trim().split("\n").slice(-n).join(" ");

/**
 * Starts a durable job on the host and waits for its outcome in the same command (one round
 * trip; the attach that follows reads it from `attachedAtStart`). A dropped connection may have
 * started the job all the same: the id is returned and the attach tells. A refusal (the lock is
 * held, the release is missing) throws JobRefused.
 */
async function startDetached(
  pool: SshPool,
  log: (stream: "stdout" | "stderr", text: string) => void,
  attachedAtStart: EarlyAttaches,
  h: HostContext,
  job: CycleHostArgs & Pick<JobArgs, "kind" | "standby">,
  ctx: DeployContext,
  step: string,
): Promise<string> {
  const jobId = `${Date.now()}-${job.kind}-${randomBytes(3).toString("hex")}`;
  const script = startJob({ ...job, jobId, by: ctx.deployer, lock: { owner: ctx.deployer, stack: ctx.stack }, attachSeconds: ATTACH_WAIT_SECONDS });
  const r = await pool.run(h.ssh, script, { limitSeconds: ATTACH_WAIT_SECONDS + JOB_CHANNEL_SLACK_SECONDS });
  if (r.abnormal) {
    log("stderr", `cutover[${h.name}] ${step}: lost touch with the host while starting its job (${r.abnormal}); reconnecting\n`);
    return jobId;
  }
  if (r.code !== 0) throw new JobRefused(lastLines(r.stderr, 2) || `starting the ${job.kind} job exited with ${r.code}`);
  const reply = parseAttach(r.stdout.slice(r.stdout.indexOf("\n") + 1));
  if (reply && reply.state !== "running") attachedAtStart.set(jobId, reply);
  return jobId;
}

/** What a start that attached at once found, for the attach that follows (shared by HostOps and SlotOps). */
export type EarlyAttaches = Map<string, AttachReply>;

export function sshHostOps(
  ctx: DeployContext,
  pool: SshPool,
  log: (stream: "stdout" | "stderr", text: string) => void,
  redeploy?: string,
  attachedAtStart: EarlyAttaches = new Map(),
): HostOps {
  const t = ctx.timeouts;
  const limits = limitsOf(ctx);
  const args = (h: HostContext): CycleHostArgs => ({
    root: h.root,
    host: h.name,
    releaseId: ctx.release.id,
    restartCommand: h.restartCommand,
    aliveCommand: h.aliveCommand,
    check: hostCheck(ctx, h),
    limits,
    redeploy,
  });
  const jobLimit = (h: HostContext) => jobLimitSeconds(hostCheck(ctx, h), limits);

  return {
    jobLimitSeconds: jobLimit,
    async probe(h) {
      const quick = hostCheck(ctx, h).kind === "command" ? t.checkCommand : 2;
      const out = await readOnly(pool, log, h, "probe", probeCycle(args(h)), quick + t.alive + MARGIN_SECONDS);
      const p = parseCycleProbe(out);
      if (!p) throw new Error(`probe on ${h.name} answered nothing Cutover can read: ${lastLines(out)}`);
      return p;
    },
    start: (h, kind) => startDetached(pool, log, attachedAtStart, h, { ...args(h), kind }, ctx, "cycle"),
    async attach(h, jobId) {
      const early = attachedAtStart.get(jobId);
      attachedAtStart.delete(jobId);
      if (early?.state === "done") return { outcome: early.outcome, log: early.log };
      const deadline = Date.now() + (jobLimit(h) + MARGIN_SECONDS) * 1000;
      let lastProblem = "";
      while (Date.now() < deadline) {
        const wait = Math.max(1, Math.min(ATTACH_WAIT_SECONDS, Math.ceil((deadline - Date.now()) / 1000)));
        const r = await pool.run(h.ssh, attachJob({ root: h.root, host: h.name, jobId, waitSeconds: wait }), { limitSeconds: wait + JOB_CHANNEL_SLACK_SECONDS }).catch(
          (e: Error) => ({ code: 255, stdout: "", stderr: "", abnormal: e.message }),
        );
        const reply = r.code === 0 ? parseAttach(r.stdout) : undefined;
        if (reply?.state === "done") return { outcome: reply.outcome, log: reply.log };
        if (reply?.state === "never") return { log: reply.log, why: `the job ${jobId} never started: ${lastLines(reply.log)}`, started: false };
        if (reply?.state === "gone") {
          return { log: reply.log, why: `the host's job ${jobId} ended without an outcome (killed on the host?); last output: ${lastLines(reply.log)}` };
        }
        if (reply?.state === "running") continue;
        // The connection dropped (or the command failed): the job goes on; dial again.
        const problem = r.abnormal ?? (lastLines(r.stderr) || `exit ${r.code}`);
        if (problem !== lastProblem) log("stderr", `cutover[${h.name}] cycle: lost touch with the host's job (${problem}); reconnecting\n`);
        lastProblem = problem;
        await sleep(1000);
      }
      return { log: "", why: `no outcome from the host's job ${jobId} within its limit of ${jobLimit(h)} s (+${MARGIN_SECONDS} s)${lastProblem ? `; last problem: ${lastProblem}` : ""}` };
    },
    async watch(h) {
      const out = await readOnly(pool, log, h, "stability watch", watchStable({ ...args(h), stableSeconds: ctx.stableSeconds }), ctx.stableSeconds + t.alive + MARGIN_SECONDS);
      return parseStable(out) ?? { ok: false, reason: `the stability watch answered nothing Cutover can read: ${lastLines(out)}` };
    },
    async prune(h) {
      const script = pruneReleases({ root: h.root, keep: ctx.keepReleases, host: h.name, lock: { owner: ctx.deployer, stack: ctx.stack, root: h.root, release: ctx.release.id, step: "prune" } });
      const r = await pool.run(h.ssh, script, { limitSeconds: 120 });
      if (r.code !== 0) throw new Error(lastLines(r.stderr) || r.abnormal || `exit ${r.code}`);
    },
  };
}

/** The two slots of an overlap host: slot a is the host's usual service, b its standby. */
function slotsOf(ctx: DeployContext, h: HostContext): Record<SlotName, SlotCommands & { port: number }> {
  const sb = h.standby;
  if (!sb || !h.stopCommand) throw new Error(`${h.name} has no standby slot (and stop command): the overlap strategy needs both on every host`);
  const url = (port: number) => {
    const c = hostCheck(ctx, h, port);
    return c.kind === "http" ? c.url : undefined;
  };
  return {
    a: { port: h.app.port, restartCommand: h.restartCommand, stopCommand: h.stopCommand, aliveCommand: h.aliveCommand, checkUrl: url(h.app.port) },
    b: { port: sb.port, restartCommand: sb.restartCommand, stopCommand: sb.stopCommand, aliveCommand: sb.aliveCommand, checkUrl: url(sb.port) },
  };
}

/** The overlap strategy's host-side steps (overlap.ts's SlotOps), each one bounded remote command. */
export function sshSlotOps(
  ctx: DeployContext,
  pool: SshPool,
  log: (stream: "stdout" | "stderr", text: string) => void,
  redeploy: string | undefined,
  attachedAtStart: EarlyAttaches,
): SlotOps {
  const t = ctx.timeouts;
  const limits = limitsOf(ctx);
  const slotArgs = (h: HostContext, slot: SlotName, releaseId = ctx.release.id): CycleHostArgs => {
    const s = slotsOf(ctx, h)[slot];
    return { root: h.root, host: h.name, releaseId, restartCommand: s.restartCommand, aliveCommand: s.aliveCommand, check: hostCheck(ctx, h, s.port), limits, redeploy };
  };
  return {
    async probeSlots(h) {
      const quick = hostCheck(ctx, h).kind === "command" ? t.checkCommand : 2;
      const out = await readOnly(pool, log, h, "probe", probeCycle({ ...slotArgs(h, "a"), slots: slotsOf(ctx, h) }), 3 * (quick + t.alive) + MARGIN_SECONDS);
      const probe = parseCycleProbe(out);
      if (!probe) throw new Error(`probe on ${h.name} answered nothing Cutover can read: ${lastLines(out)}`);
      // No slots line: the probe stopped early (a job still running, release not prepared).
      return { probe, slots: parseSlotsProbe(out) ?? { a: { passes: false }, b: { passes: false } } };
    },
    startInSlot: (h, slot, releaseId) =>
      startDetached(pool, log, attachedAtStart, h, { ...slotArgs(h, slot, releaseId), kind: "standby", standby: { slot, stopCommand: slotsOf(ctx, h)[slot].stopCommand } }, ctx, "overlap"),
    async watchSlot(h, slot) {
      const out = await readOnly(pool, log, h, "stability watch", watchStable({ ...slotArgs(h, slot), stableSeconds: ctx.stableSeconds }), ctx.stableSeconds + t.alive + MARGIN_SECONDS);
      return parseStable(out) ?? { ok: false, reason: `the stability watch answered nothing Cutover can read: ${lastLines(out)}` };
    },
    async settle(h, serving) {
      const other = slotsOf(ctx, h)[otherSlot(serving)];
      const script = settleSlots({ root: h.root, host: h.name, serving, stopCommand: other.stopCommand, warmSeconds: ctx.warmSeconds, stopLimitSeconds: t.restart, token: newToken() });
      const r = await pool.run(h.ssh, script, { limitSeconds: t.restart + MARGIN_SECONDS });
      if (r.code !== 0) throw new Error(`settling the slots of ${h.name} failed: ${lastLines(r.stderr) || r.abnormal || `exit ${r.code}`}`);
    },
  };
}

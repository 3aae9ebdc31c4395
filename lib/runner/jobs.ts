/**
 * The steps of a deploy as the agent carries them out, one host each:
 * - prepare: probe; if the release is not on the host, upload it over SFTP and prepare it
 *   under the host lock; a release targeted by id (no artifact) must already be there.
 * - migrate: the run-once migration under the migration host's lock.
 * - cycle: hide → switch → check → (restore) → unhide, one step; the host's side is one
 *   script holding the host lock throughout (scripts/host-cycle.ts). The unhide runs whatever
 *   happened, and the step fails (throws StepFailure) when the host had to be restored — after
 *   it is back on its previous release and in rotation.
 * Every step is idempotent: a host already where the step would put it is left alone (no
 * upload, no restart), which is what makes a plain `pulumi up` after any failure safe.
 */
import { randomBytes } from "node:crypto";
import { ClientChannel } from "ssh2";
import { DeployContext, HostContext, checkFor, hostOf } from "./context";
import { Phase } from "./events";
import { Membership } from "./membership";
import { SshPool, collect } from "./ssh-pool";
import { CycleResult, CycleState, HostCheck, hostCycle, parseCycleResult, parseCycleState } from "../scripts/host-cycle";
import { layout } from "../scripts/layout";
import { prepareRelease, probeRelease } from "../scripts/release";
import { runMigration } from "../scripts/migrate";
import { sh } from "../scripts/quote";

/** A step that did not achieve its purpose; the message says what happened and what to do. */
export class StepFailure extends Error {}

export interface JobEnv {
  ctx: DeployContext;
  pool: SshPool;
  membership?: Membership;
  log(stream: "stdout" | "stderr", text: string): void;
  phase(host: string, phase: Phase, detail?: string): void;
  /** The caller asked to stop (Ctrl-C): finish what is safe, start nothing new. */
  cancelled(): boolean;
}

const lockOf = (ctx: DeployContext) => ({ owner: ctx.deployer, stack: ctx.stack });

async function runChecked(env: JobEnv, h: HostContext, step: string, script: string, retryIfDropped = false): Promise<string> {
  let r = await env.pool.run(h.ssh, script, env.log);
  if (r.abnormal && retryIfDropped) {
    // Only for commands that change nothing (a probe): safe to run again.
    env.log("stderr", `cutover[${h.name}] ${step}: ${r.abnormal}; trying once more\n`);
    r = await env.pool.run(h.ssh, script, env.log);
  }
  if (r.code !== 0) {
    const why = r.stderr.trim().split("\n").slice(-3).join(" ") || r.abnormal || `exit ${r.code}`;
    // Probe, prepare and migration all run before the first switch.
    throw new StepFailure(`cutover: ${h.name}: ${step} failed: ${why}. No host was switched; fix the cause and run \`pulumi up\` again.`);
  }
  return r.stdout;
}

export async function prepare(env: JobEnv, hostName: string): Promise<void> {
  const { ctx } = env;
  const h = hostOf(ctx, hostName);
  const { id, artifact } = ctx.release;
  env.phase(h.name, "prepare");
  const probe = await runChecked(env, h, "probe", probeRelease({ root: h.root, releaseId: id, host: h.name }), true);
  if (probe.includes("cutover-prepared yes")) {
    env.phase(h.name, "prepared", "already on the host");
    return;
  }
  if (!artifact) {
    const available = [...probe.matchAll(/^cutover-available (\S+)$/gm)].map((m) => m[1]);
    throw new StepFailure(
      `cutover: ${h.name}: release ${id} is not prepared on this host (pruned, or never deployed here), so it cannot be targeted by id. ` +
        `Ids that can be rolled back to on ${h.name}: ${available.length ? available.join(", ") : "none"}. ` +
        "Set cutover:app.release to one of them, or deploy that version from source.",
    );
  }
  // A unique name per attempt: two uploads never write one file, and a failed one is
  // recognisable as a leftover (prune removes uploads under the lock).
  const upload = `${layout(h.root).uploadsDir}/${id}.tar.gz.${randomBytes(4).toString("hex")}.part`;
  try {
    await env.pool.upload(h.ssh, artifact.path, upload);
  } catch (e) {
    await env.pool.run(h.ssh, sh`rm -f -- ${upload}`).catch(() => undefined);
    throw new StepFailure(`cutover: ${h.name}: upload of release ${id} failed: ${(e as Error).message} (disk full on the host?). Nothing was switched; free space and run \`pulumi up\` again.`);
  }
  const hooks = Object.entries(ctx.prepare.buildHooks ?? {})
    .filter(([role]) => h.roles.includes(role))
    .flatMap(([, commands]) => commands);
  try {
    await runChecked(
      env,
      h,
      "prepare",
      prepareRelease({
        root: h.root,
        releaseId: id,
        artifactPath: upload,
        sha256: artifact.sha256,
        linkedDirs: ctx.prepare.linkedDirs,
        linkedFiles: ctx.prepare.linkedFiles,
        installCommand: ctx.prepare.installCommand,
        buildHooks: hooks,
        host: h.name,
        lock: { ...lockOf(ctx), root: h.root, release: id, step: "prepare" },
        removeArtifact: true,
      }),
    );
  } catch (e) {
    await env.pool.run(h.ssh, sh`rm -f -- ${upload}`).catch(() => undefined);
    throw e;
  }
  env.phase(h.name, "prepared");
}

export async function migrate(env: JobEnv): Promise<void> {
  const { ctx } = env;
  const m = ctx.migration;
  if (!m) throw new StepFailure(`cutover: deploy ${ctx.key} has no migration configured`);
  const h = hostOf(ctx, m.host);
  env.phase(h.name, "migrate");
  await runChecked(
    env,
    h,
    "migration",
    runMigration({
      root: h.root,
      releaseId: ctx.release.id,
      host: h.name,
      command: m.command,
      backupCommand: m.backupCommand,
      lock: { ...lockOf(ctx), root: h.root, release: ctx.release.id, step: "migrate" },
    }),
  );
  env.phase(h.name, "migrated");
}

/** Reads the host script's stdout line by line, answering waits for its protocol lines. */
class HostSession {
  private buffer = "";
  private lines: string[] = [];
  private waiting?: () => void;
  readonly finished: Promise<{ code: number; stderr: string }>;

  constructor(
    readonly channel: ClientChannel,
    log: JobEnv["log"],
  ) {
    this.finished = collect(channel, (stream, text) => {
      log(stream, text);
      if (stream !== "stdout") return;
      this.buffer += text;
      const parts = this.buffer.split("\n");
      this.buffer = parts.pop() ?? "";
      this.lines.push(...parts);
      this.waiting?.();
    }).then((r) => {
      this.closed = true;
      this.waiting?.();
      return r;
    });
  }

  private closed = false;
  private ended = false;

  async next<T>(parse: (line: string) => T | undefined): Promise<T | undefined> {
    for (;;) {
      while (this.lines.length) {
        const parsed = parse(this.lines.shift()!);
        if (parsed !== undefined) return parsed;
      }
      if (this.closed) return undefined;
      await new Promise<void>((resolve) => (this.waiting = resolve));
      this.waiting = undefined;
    }
  }

  order(word: "switch" | "restore" | "done" | "prune"): void {
    if (this.ended || this.closed) return;
    this.channel.write(`${word}\n`);
    if (word === "done" || word === "prune") {
      this.ended = true;
      this.channel.end();
    }
  }
}

function hostCheck(ctx: DeployContext, h: HostContext): HostCheck {
  const c = checkFor(ctx, h);
  if (c.kind === "http") return { kind: "http", url: `http://${h.app.address}:${h.app.port}${c.path}`, deadlineSeconds: c.deadlineSeconds };
  return c;
}

function batchOf(ctx: DeployContext, host: string): number {
  return ctx.batches.find((b) => b.hosts.includes(host))?.index ?? 0;
}

type Outcome = { kind: "unchanged" } | { kind: "switched" } | { kind: "failed"; result: CycleResult | undefined; why: string };

/**
 * One host through the balancer: the host script is started first (it takes the lock and
 * says whether anything needs doing), then hide, the order, unhide — the unhide in a finally.
 */
async function cycleOne(env: JobEnv, h: HostContext, order: "switch" | "restore"): Promise<Outcome> {
  const { ctx, pool } = env;
  const lb = env.membership?.fronts(h) ? env.membership : undefined;
  env.phase(h.name, "lock");
  const script = hostCycle({
    root: h.root,
    host: h.name,
    releaseId: ctx.release.id,
    restartCommand: h.restartCommand,
    aliveCommand: h.aliveCommand,
    by: ctx.deployer,
    check: hostCheck(ctx, h),
    keepReleases: ctx.keepReleases,
    lock: lockOf(ctx),
  });
  const session = new HostSession(await pool.open(h.ssh, script), env.log);
  const state: CycleState | undefined = await session.next(parseCycleState);
  if (!state) {
    const { code, stderr } = await session.finished;
    return { kind: "failed", result: undefined, why: stderr.trim().split("\n").slice(-2).join(" ") || `the host script exited with ${code}` };
  }
  if (order === "restore" && state.state === "switch" && state.was !== ctx.release.id) {
    // Never reached the target (or is on something else): nothing to switch back.
    session.order("done");
    await session.finished;
    return { kind: "unchanged" };
  }
  if (state.state === "current" && order === "switch") {
    // Already on the target and passing its check: no restart. A host a killed deploy
    // left hidden is put back.
    if (lb && !(await lb.inRotation(h))) {
      env.phase(h.name, "unhide", "left out of rotation by an earlier attempt");
      await lb.unhide(h);
      env.phase(h.name, "in-rotation");
    }
    session.order("done");
    await session.finished;
    env.phase(h.name, "unchanged", `already on ${ctx.release.id}`);
    return { kind: "unchanged" };
  }
  let result: CycleResult | undefined;
  let hideError: Error | undefined;
  let unhideError: Error | undefined;
  try {
    if (lb) {
      env.phase(h.name, "hide");
      await lb.hide(h);
      env.phase(h.name, "hidden");
    }
    if (env.cancelled()) {
      session.order("done");
    } else {
      env.phase(h.name, "switch");
      session.order(order);
      result = await session.next(parseCycleResult);
      if (result?.result === "ok") env.phase(h.name, "switched");
      if (result?.result === "restored") env.phase(h.name, "restored", result.reason);
    }
  } catch (e) {
    hideError = e as Error;
    session.order("done");
  } finally {
    // Back in rotation whatever happened, unless the host serves nothing that works.
    if (lb && result?.result !== "broken") {
      env.phase(h.name, "unhide");
      try {
        await lb.unhide(h);
        env.phase(h.name, "in-rotation");
      } catch (e) {
        unhideError = e as Error;
      }
    }
  }
  if (result?.result === "ok" && !unhideError && !hideError) {
    session.order("prune");
    const done = await session.finished;
    if (done.code !== 0) env.log("stderr", `cutover[${h.name}] prune: warning: exit ${done.code}; old releases stay until the next deploy\n`);
    return { kind: "switched" };
  }
  session.order("done");
  const { code, stderr } = await session.finished;
  const why =
    hideError?.message ??
    unhideError?.message ??
    (result?.result === "restored" || result?.result === "broken"
      ? result.reason
      : env.cancelled()
        ? "the deploy was cancelled before this host switched"
        : stderr.trim().split("\n").slice(-2).join(" ") || `the host script exited with ${code}`);
  return { kind: "failed", result, why };
}

export async function cycle(env: JobEnv, hostName: string): Promise<void> {
  const { ctx } = env;
  const h = hostOf(ctx, hostName);
  const batch = batchOf(ctx, h.name);
  const earlier = ctx.batches.filter((b) => b.index < batch).flatMap((b) => b.hosts).map((n) => hostOf(ctx, n));
  if (ctx.restoreCycled) {
    // An earlier attempt with restoreCycled switched these back; they go forward first.
    for (const peer of earlier) {
      const outcome = await cycleOne(env, peer, "switch");
      if (outcome.kind === "failed") throw failure(env, peer, outcome, []);
    }
  }
  const outcome = await cycleOne(env, h, "switch");
  if (outcome.kind !== "failed") return;
  const restoredPeers: string[] = [];
  if (ctx.restoreCycled && outcome.result?.result === "restored") {
    for (const peer of [...earlier].reverse()) {
      const back = await cycleOne(env, peer, "restore");
      if (back.kind !== "failed") restoredPeers.push(peer.name);
      else env.log("stderr", `cutover[${peer.name}] restore: ${back.why}\n`);
    }
  }
  throw failure(env, h, outcome, restoredPeers);
}

function failure(env: JobEnv, h: HostContext, outcome: Extract<Outcome, { kind: "failed" }>, restoredPeers: string[]): StepFailure {
  const { ctx } = env;
  env.phase(h.name, "failed", outcome.why);
  const r = outcome.result;
  const where = `cutover: ${h.name} (batch ${batchOf(ctx, h.name)}) did not switch to ${ctx.release.id}: ${outcome.why}.`;
  const state =
    r?.result === "restored"
      ? ` ${h.name} is back on its previous release ${r.previous}${env.membership?.fronts(h) ? " and in rotation" : ""}; hosts after it were not switched.`
      : r?.result === "broken"
        ? ` ${h.name} could not be brought back to a working release and is left out of rotation: look at the host.`
        : ` Nothing was switched on ${h.name}.`;
  const peers = restoredPeers.length ? ` Switched back too (restoreCycled): ${restoredPeers.join(", ")}.` : "";
  return new StepFailure(`${where}${state}${peers} Fix the cause and run \`pulumi up\` again: it retries from ${h.name}.`);
}

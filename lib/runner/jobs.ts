/**
 * The steps of a deploy before any switch, as the agent carries them out:
 * - prepare: probe; if the release is not on the host, upload it over SFTP and prepare it
 *   under the host lock; a release targeted by id (no artifact) must already be there.
 * - migrate: the run-once migration under the migration host's lock.
 * (The cycle is cycle.ts.) Every step is idempotent: a host already where the step would put
 * it is left alone (no upload), which is what makes a plain `pulumi up` after any failure safe.
 * Every remote command runs within a limit (ctx.timeouts) and a failure names host and step.
 */
import { randomBytes } from "node:crypto";
import { DeployContext, HostContext, hostOf } from "./context";
import { StepFailure } from "./cycle";
import { Phase } from "./events";
import { SshPool } from "./ssh-pool";
import { layout } from "../scripts/layout";
import { prepareRelease, probeRelease } from "../scripts/release";
import { runMigration } from "../scripts/migrate";
import { sh } from "../scripts/quote";

export interface JobEnv {
  ctx: DeployContext;
  pool: SshPool;
  log(stream: "stdout" | "stderr", text: string): void;
  phase(host: string, phase: Phase, detail?: string): void;
}

/** Room beyond a command's own limits for the SSH round trip and the lock. */
const MARGIN_SECONDS = 30;

const lockOf = (ctx: DeployContext) => ({ owner: ctx.deployer, stack: ctx.stack });

async function runChecked(env: JobEnv, h: HostContext, step: string, script: string, limitSeconds: number, retryIfDropped = false): Promise<string> {
  const options = { limitSeconds, onOutput: env.log };
  // Only commands that change nothing (a probe) are safe to run again.
  const r = retryIfDropped
    ? await env.pool.runReadOnly(h.ssh, script, options, (why) => env.log("stderr", `cutover[${h.name}] ${step}: ${why}; trying once more\n`))
    : await env.pool.run(h.ssh, script, options);
  if (r.code !== 0) {
    const why = r.stderr.trim().split("\n").slice(-3).join(" ") || (r.abnormal ? `the ${step} command ${r.abnormal}` : `exit ${r.code}`);
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
  const probe = await runChecked(env, h, "probe", probeRelease({ root: h.root, releaseId: id, host: h.name }), MARGIN_SECONDS, true);
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
    await env.pool.upload(h.ssh, artifact.path, upload, ctx.timeouts.upload);
  } catch (e) {
    await env.pool.run(h.ssh, sh`rm -f -- ${upload}`, { limitSeconds: MARGIN_SECONDS }).catch(() => undefined);
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
        installTimeoutSeconds: ctx.timeouts.install,
        buildHookTimeoutSeconds: ctx.timeouts.buildHook,
      }),
      // Unpack and link are quick; install and each hook have their own limits on the host.
      ctx.timeouts.install + hooks.length * ctx.timeouts.buildHook + 120,
    );
  } catch (e) {
    await env.pool.run(h.ssh, sh`rm -f -- ${upload}`, { limitSeconds: MARGIN_SECONDS }).catch(() => undefined);
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
      migrationTimeoutSeconds: ctx.timeouts.migration,
      backupTimeoutSeconds: ctx.timeouts.backup,
    }),
    ctx.timeouts.migration + ctx.timeouts.backup + MARGIN_SECONDS,
  );
  env.phase(h.name, "migrated");
}

// The app block: what to deploy and how. `cutover:app` in a TypeScript stack (stacks/index.ts),
// the `app` argument of the multi-language Deployment component (lib/package).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { CommandTimeouts } from "../runner/context";
import { DEFAULT_TIMEOUTS, type MigrationSpec, type PrepareSpec, type RoleCheckSpec, type SmokeSpec } from "../components/deployment";
import { validateDeploymentSettings, type DeploymentSettings } from "../components/validate-deployment";
import { CutoverInputError, validateVersionLabel, type BatchSize, type KeyShape } from "../plan";

export interface AppConfig {
  /** App directory, relative to the project's directory (or absolute). */
  source: string;
  /** Version label: part of the release id. */
  version: string;
  /**
   * Go to a release already on every host, by id (a rollback: no build, no upload, only
   * swaps). When set, source and version are not used. `cutover history` lists the ids.
   */
  release?: string;
  /** Change it to cycle every host again for the same release. */
  redeploy?: string;
  prepare?: PrepareSpec;
  migration?: MigrationSpec;
  keepReleases?: number;
  /** Who deploys; defaults to the local user. */
  deployer?: string;
  rollout?: {
    batchSize?: BatchSize;
    smoke?: SmokeSpec;
    checks?: Record<string, RoleCheckSpec>;
    restoreCycled?: boolean;
    /** false: switch hosts in place without hiding them (to measure what hiding saves). */
    hideFromLoadBalancer?: boolean;
    /** Seconds a host must keep passing its check back in rotation before the next batch (default 3). */
    stableSeconds?: number;
    /** "cycle" (default) or "overlap" (needs a fleet with standby slots). */
    strategy?: "cycle" | "overlap";
    /** overlap: seconds the previous slot stays warm for an instant rollback (default 300). */
    warmSeconds?: number;
    /** The first batch holds as a canary: { hosts: 1 | "10%", holdSeconds, maxErrorRate (0–1) }. */
    canary?: { hosts?: BatchSize; holdSeconds?: number; maxErrorRate: number };
    /** Fewest servers of the backend kept in rotation while one is hidden. */
    minInRotation?: number;
  };
  /** Time limits of commands on the hosts, in seconds: restart, alive, checkCommand, install, … */
  timeouts?: Partial<CommandTimeouts>;
}

/** The app directory: `source` as written, relative to `baseDir` (the project's directory). */
export function resolveSource(app: AppConfig, baseDir: string): string {
  return path.isAbsolute(app.source) ? app.source : path.join(baseDir, app.source);
}

/** Built artifacts are kept outside the repo, beside the engine cache. */
export function artifactDir(): string {
  return path.join(process.env.CUTOVER_CACHE ?? path.join(os.homedir(), ".cache", "cutover"), "artifacts");
}

export function deployerName(app: AppConfig): string {
  return app.deployer ?? `${os.userInfo().username}@${os.hostname()}`;
}

// Every key of the block, so a misspelt one is refused rather than ignored. Typed against the
// interfaces: a key added to AppConfig (or PrepareSpec, …) without its place here fails to compile.
export type Keys<T> = { keys: { [K in keyof Required<T>]: KeyShape } };
type Rollout = NonNullable<AppConfig["rollout"]>;
const prepareKeys: Keys<PrepareSpec> = { keys: { linkedDirs: "any", linkedFiles: "any", installCommand: "any", buildHooks: { each: "any" } } };
const migrationKeys: Keys<MigrationSpec> = { keys: { host: "any", command: "any", backupCommand: "any" } };
const smokeKeys: Keys<SmokeSpec> = { keys: { path: "any", deadlineSeconds: "any", roles: "any" } };
const checkKeys: Keys<Exclude<RoleCheckSpec, "none">> = { keys: { command: "any", deadlineSeconds: "any" } };
const rolloutKeys: Keys<Rollout> = {
  keys: {
    batchSize: "any",
    smoke: smokeKeys,
    checks: { each: checkKeys },
    restoreCycled: "any",
    hideFromLoadBalancer: "any",
    stableSeconds: "any",
    strategy: "any",
    warmSeconds: "any",
    canary: { keys: { hosts: "any", holdSeconds: "any", maxErrorRate: "any" } },
    minInRotation: "any",
  },
};
const timeoutKeys: Keys<CommandTimeouts> = { keys: Object.fromEntries(Object.keys(DEFAULT_TIMEOUTS).map((k) => [k, "any"])) as Keys<CommandTimeouts>["keys"] };
export const APP_CONFIG_KEYS: Keys<AppConfig> = {
  keys: {
    source: "any",
    version: "any",
    release: "any",
    redeploy: "any",
    prepare: prepareKeys,
    migration: migrationKeys,
    keepReleases: "any",
    deployer: "any",
    rollout: rolloutKeys,
    timeouts: timeoutKeys,
  },
};

/** What the block sets of a Deployment: everything but its hosts, artifact and load balancer. */
export function deploymentSettings(app: AppConfig, stack: string): DeploymentSettings {
  return {
    ...(app.release ? { releaseId: app.release } : {}),
    redeploy: app.redeploy,
    prepare: app.prepare,
    migration: app.migration,
    keepReleases: app.keepReleases,
    deployer: deployerName(app),
    stack,
    batchSize: app.rollout?.batchSize,
    smoke: app.rollout?.smoke ?? { path: "/healthz" },
    checks: app.rollout?.checks,
    restoreCycled: app.rollout?.restoreCycled,
    stableSeconds: app.rollout?.stableSeconds,
    strategy: app.rollout?.strategy,
    warmSeconds: app.rollout?.warmSeconds,
    canary: app.rollout?.canary,
    minInRotation: app.rollout?.minInRotation,
    timeouts: app.timeouts,
  };
}

const FROM_ROLLOUT = ["batchSize", "smoke", "checks", "restoreCycled", "stableSeconds", "strategy", "warmSeconds", "canary", "minInRotation"];
const AS_WRITTEN = ["prepare", "migration", "keepReleases", "deployer", "redeploy", "timeouts"];

/**
 * The config key a user wrote for a Deployment (or buildArtifact) argument: `batchSize` is
 * `cutover:app.rollout.batchSize`, `releaseId` is `cutover:app.release`. Undefined for an
 * argument the block does not set (hosts, stack).
 */
export function appConfigKey(argument: string): string | undefined {
  const head = /^[A-Za-z]*/.exec(argument)![0];
  const rest = argument.slice(head.length);
  if (FROM_ROLLOUT.includes(head)) return `cutover:app.rollout.${argument}`;
  if (AS_WRITTEN.includes(head)) return `cutover:app.${argument}`;
  if (head === "releaseId") return `cutover:app.release${rest}`;
  if (head === "version" || head === "versionLabel") return `cutover:app.version${rest}`;
  if (head === "sourceDir" || head === "source") return `cutover:app.source${rest}`;
  return undefined;
}

/**
 * Everything about the block that can be checked before any resource exists: what to deploy
 * (the release, or the version label and an app directory that is there) and the settings.
 */
export function checkAppConfig(app: AppConfig, stack: string, baseDir: string): void {
  if (!app.release) {
    validateVersionLabel(app.version, "version");
    checkSource(app, baseDir);
  }
  validateDeploymentSettings(deploymentSettings(app, stack));
}

function checkSource(app: AppConfig, baseDir: string): void {
  const fix = `give the app's directory, relative to the project (${baseDir}) or absolute`;
  if (typeof app.source !== "string" || app.source === "") throw new CutoverInputError("source", app.source, fix);
  const dir = resolveSource(app, baseDir);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    throw new CutoverInputError("source", app.source, `there is no directory ${dir}; ${fix}`);
  }
  if (!stat.isDirectory()) throw new CutoverInputError("source", app.source, `${dir} is a file; give the directory that contains the app`);
}

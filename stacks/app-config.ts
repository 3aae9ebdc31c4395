// The `cutover:app` config block: what to deploy and how. Read only by stacks/index.ts.
import * as os from "node:os";
import * as path from "node:path";
import { CommandTimeouts, MigrationSpec, PrepareSpec, RoleCheckSpec, SmokeSpec, plan } from "../lib";

export interface AppConfig {
  /** App directory, relative to the project (or absolute). */
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
    batchSize?: plan.BatchSize;
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
    /** Fewest servers of the backend kept in rotation while one is hidden. */
    minInRotation?: number;
  };
  /** Time limits of commands on the hosts, in seconds: restart, alive, checkCommand, install, … */
  timeouts?: Partial<CommandTimeouts>;
}

export const projectDir = path.resolve(__dirname, "..", "..");

export function resolveSource(app: AppConfig): string {
  return path.isAbsolute(app.source) ? app.source : path.join(projectDir, app.source);
}

/** Built artifacts are kept outside the repo, beside the engine cache. */
export function artifactDir(): string {
  return path.join(process.env.CUTOVER_CACHE ?? path.join(os.homedir(), ".cache", "cutover"), "artifacts");
}

export function deployerName(app: AppConfig): string {
  return app.deployer ?? `${os.userInfo().username}@${os.hostname()}`;
}

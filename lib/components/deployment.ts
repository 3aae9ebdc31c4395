// One deploy as one dependency graph (see shared/ARCHITECTURE.md):
//   ReleaseDirectory(h) for every host, in parallel (upload + prepare, or only a check when
//   the release is targeted by id) → migration once, on the migration host → batch by batch,
//   HostCycle(h): hide → switch → check → unhide, one step per host (prune included).
// Each step is a local command running Cutover's runner, which does the work through the
// agent over pooled SSH connections. The steps' inputs are the release id, the host and an
// optional redeploy nonce only; everything else reaches the runner as the deploy context.
import * as pulumi from "../pulumi";
import { Host, hostContextOf } from "./host";
import { ReleaseDirectory } from "./release-directory";
import { HostState } from "./host-state";
import { HostCycle } from "./host-cycle";
import { LoadBalancerMembership } from "./load-balancer";
import { stepCommand } from "./step-command";
import { CommandTimeouts, DeployContext, RoleCheck } from "../runner/context";
import { DEFAULT_CYCLE_LIMITS } from "../scripts/host-job";
import { DEFAULT_COMMAND_TIMEOUTS } from "../scripts/timeouts";
import { registerDeploy } from "../runner/register";
import { validateDeployment } from "./validate-deployment";
import { describeRollout, planRollout, preparedReleaseId, BatchSize, RolloutBatch } from "../plan";

/** A built artifact: a tar.gz on this machine, its checksum and the release id. */
export interface ArtifactRef {
  path: string;
  sha256: string;
  releaseId: string;
}

export interface PrepareSpec {
  linkedDirs?: string[];
  linkedFiles?: string[];
  installCommand?: string;
  /** Extra commands by role, run after install on hosts with that role. */
  buildHooks?: Record<string, string[]>;
}

export interface MigrationSpec {
  /** Name of the host that runs it (keep it stable: the run-once marker lives there). */
  host: string;
  command: string;
  /** Runs first; a failing backup stops the migration. */
  backupCommand?: string;
}

/** The HTTP smoke test: GET `path` on the host must answer 2xx/3xx with the release id. */
export interface SmokeSpec {
  path: string;
  /** How long a switched host may take to pass (default 30 s); polled every 100 ms. */
  deadlineSeconds?: number;
  /** Roles smoke-tested over HTTP (default: the load-balanced role). */
  roles?: string[];
}

/** A role's own check instead of HTTP: a command run in the release that must exit 0, or none. */
export type RoleCheckSpec = { command: string; deadlineSeconds?: number } | "none";

export interface DeploymentArgs {
  hosts: Host[];
  /** What to deploy: a built artifact, or (rollback) the id of a release already on every host. */
  artifact?: pulumi.Input<ArtifactRef>;
  releaseId?: string;
  prepare?: PrepareSpec;
  migration?: MigrationSpec;
  /** Releases kept on each host, current and previous included (default 5, at least 2). */
  keepReleases?: number;
  /** Who deploys (history.log, lock owner). Changing it re-runs nothing. */
  deployer: string;
  /** The stack deploying (lock messages name it). */
  stack: string;
  /** Hosts of its role are hidden from it while they switch. */
  loadBalancer?: LoadBalancerMembership;
  /** Hosts per rollout batch: a count or a percentage ("25%"); default 1. */
  batchSize?: BatchSize;
  smoke?: SmokeSpec;
  /** Checks for roles the smoke test does not cover, by role. */
  checks?: Record<string, RoleCheckSpec>;
  /**
   * cycle (default): each host leaves rotation while it restarts in place. overlap: the new
   * release starts in the host's idle slot (Host.standby), passes its check, takes the
   * traffic, and the old slot stays warm for warmSeconds: capacity never drops, and a
   * rollback within warmSeconds only moves traffic back.
   */
  strategy?: "cycle" | "overlap";
  /** overlap: seconds the slot that served before keeps running (default 300; 0 stops it at once). */
  warmSeconds?: number;
  /**
   * The first batch is a canary of `hosts` (default 1) balanced hosts: once switched it holds
   * `holdSeconds` (default 30) while the balancer counts its responses, and goes back, failing
   * the deploy, when more than `maxErrorRate` (0–1) of them are 5xx.
   */
  canary?: { hosts?: BatchSize; holdSeconds?: number; maxErrorRate: number };
  /** On a failure, switch the hosts of earlier batches back too. */
  restoreCycled?: boolean;
  /** Change it to restart every host again, through the same cycle, on the same release. */
  redeploy?: string;
  /**
   * Seconds a host must keep passing its check once back in rotation before the next batch
   * starts (default 3: a release that passes its check and dies within a few seconds of its start, the common crash, is caught; each batch waits that long after its put-back); a release that dies in that window is restored like a failed check.
   */
  stableSeconds?: number;
  /**
   * Fewest servers of the balancer's backend that stay in rotation while one is hidden, counting
   * every server of the backend, whoever deploys it (default: fronted hosts − the largest batch).
   */
  minInRotation?: number;
  /** Time limits of the commands run on hosts, in seconds (see DEFAULT_TIMEOUTS). */
  timeouts?: Partial<CommandTimeouts>;
}

/** Time limits of everything run on a host; each can be set in `timeouts`. */
export const DEFAULT_TIMEOUTS: CommandTimeouts = {
  ...DEFAULT_CYCLE_LIMITS,
  ...DEFAULT_COMMAND_TIMEOUTS,
  upload: 600,
};

/**
 * The same value, known or not, without the resources it was computed from. The deploy context
 * reads every host (a local fleet's hosts are resources), and every step waited on it: each
 * step recorded every host's resources as its dependencies, 16.6 KB of URNs per step at 64
 * hosts (6.4 MB of state, rewritten by every update). A step's order comes from its own
 * dependsOn (its host, the prepares, the batch before); the value still waits for the hosts.
 */
function withoutDependencies<T>(o: pulumi.Output<T>): pulumi.Output<T> {
  const internal = o as unknown as { promise(withUnknowns?: boolean): Promise<T>; isKnown: Promise<boolean>; isSecret: Promise<boolean> };
  const OutputImpl = pulumi.Output as unknown as new (r: Set<never>, p: Promise<T>, k: Promise<boolean>, s: Promise<boolean>, a: Promise<Set<never>>) => pulumi.Output<T>;
  return new OutputImpl(new Set(), internal.promise(true), internal.isKnown, internal.isSecret, Promise.resolve(new Set()));
}

/** Default minInRotation: the fronted hosts the plan keeps in rotation during its largest batch. */
function defaultMinInRotation(args: DeploymentArgs, batches: RolloutBatch[]): number {
  const role = args.loadBalancer?.role;
  if (!role) return 0;
  const fronted = new Set(args.hosts.filter((h) => h.roles.includes(role)).map((h) => h.name));
  const largest = Math.max(0, ...batches.map((b) => b.hosts.filter((h) => fronted.has(h)).length));
  return fronted.size - largest;
}

function roleChecks(args: DeploymentArgs): Record<string, RoleCheck> {
  const checks: Record<string, RoleCheck> = {};
  const smokeRoles = args.smoke?.roles ?? (args.loadBalancer ? [args.loadBalancer.role] : []);
  for (const role of smokeRoles) {
    checks[role] = { kind: "http", path: args.smoke?.path ?? "/healthz", deadlineSeconds: args.smoke?.deadlineSeconds ?? 30 };
  }
  for (const [role, c] of Object.entries(args.checks ?? {})) {
    checks[role] = c === "none" ? { kind: "none" } : { kind: "command", command: c.command, deadlineSeconds: c.deadlineSeconds ?? 30 };
  }
  return checks;
}

export class Deployment extends pulumi.ComponentResource {
  readonly releaseId: pulumi.Output<string>;
  /** `batch 1/4 (hidden from the load balancer): web1` …, in rollout order. */
  readonly rolloutPlan: string[];

  constructor(name: string, args: DeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
    validateDeployment(args); // before any resource exists, this one included: bad input changes nothing
    super("cutover:deploy:Deployment", name, {}, opts);
    const key = `${pulumi.getProject()}/${pulumi.getStack()}/${name}`;
    const artifact = args.artifact ? pulumi.output(args.artifact) : undefined;
    // A built artifact's release is named with its prepare settings folded in (see
    // preparedReleaseId): a changed install command is a new release, prepared and cycled to.
    this.releaseId = artifact ? artifact.releaseId.apply((id) => preparedReleaseId(id, args.prepare)) : pulumi.output(args.releaseId!);
    const canary = args.canary ? { holdSeconds: args.canary.holdSeconds ?? 30, maxErrorRate: args.canary.maxErrorRate } : undefined;
    const batches = planRollout(args.hosts, args.loadBalancer?.role, args.batchSize ?? 1, args.canary ? (args.canary.hosts ?? 1) : undefined);
    this.rolloutPlan = describeRollout(batches, { strategy: args.strategy ?? "cycle", canary });

    const context: pulumi.Output<DeployContext> = pulumi
      .all([pulumi.all(args.hosts.map(hostContextOf)), artifact ?? pulumi.output(undefined), args.loadBalancer?.context ?? pulumi.output(undefined), this.releaseId])
      .apply(([hosts, a, loadBalancer, id]) => ({
        key,
        stack: args.stack,
        deployer: args.deployer,
        release: { id, artifact: a ? { path: a.path, sha256: a.sha256 } : undefined },
        hosts,
        batches,
        loadBalancer,
        checks: roleChecks(args),
        prepare: args.prepare ?? {},
        migration: args.migration,
        keepReleases: args.keepReleases ?? 5,
        restoreCycled: args.restoreCycled ?? false,
        stableSeconds: args.stableSeconds ?? 3,
        strategy: args.strategy ?? "cycle",
        warmSeconds: args.warmSeconds ?? 300,
        canary,
        minInRotation: args.minInRotation ?? defaultMinInRotation(args, batches),
        minInRotationByDefault: args.minInRotation === undefined,
        timeouts: { ...DEFAULT_TIMEOUTS, ...args.timeouts },
        checkout: process.cwd(),
      }));
    // The agent gets the context at the start of `up`; previews register nothing.
    const registered = withoutDependencies(
      pulumi.unsecret(
        context.apply(async (c) => {
          if (!pulumi.isDryRun()) await registerDeploy(c);
          return true;
        }),
      ),
    );
    const step = { key, releaseId: this.releaseId, registered };

    // Per host, what it serves as the state records it (read back by `pulumi refresh`); a host
    // found drifted gets a new generation, which its prepare and cycle steps carry.
    const drift = new Map(
      args.hosts.map((host) => {
        const state = new HostState(`${name}-${host.name}-state`, { host, release: this.releaseId }, { parent: this });
        return [host.name, state.generation.apply((g) => (g ? `drift${g}` : undefined))] as const;
      }),
    );
    const gate: pulumi.Resource[] = args.hosts.map(
      (host) => new ReleaseDirectory(`${name}-${host.name}`, { ...step, host, redeploy: drift.get(host.name) }, { parent: this }).prepared,
    );
    if (args.migration) {
      const migrationHost = args.migration.host;
      gate.push(stepCommand(`${name}-migrate`, { ...step, job: "migrate", host: migrationHost }, { parent: this, dependsOn: [...gate] }));
    }

    const rollout = new pulumi.ComponentResource("cutover:deploy:Rollout", `${name}-rollout`, {}, { parent: this });
    let after = gate;
    for (const batch of batches) {
      after = batch.hosts.map(
        (host) =>
          new HostCycle(
            `${name}-batch${batch.index}-${host}`,
            { ...step, host, after, redeploy: drift.get(host)!.apply((d) => [args.redeploy, d].filter(Boolean).join("-") || undefined) },
            { parent: rollout },
          )
            .done,
      );
    }
    this.registerOutputs({ releaseId: this.releaseId, rolloutPlan: this.rolloutPlan });
  }
}

// One deploy as one dependency graph (see shared/ARCHITECTURE.md):
//   artifact → ReleaseDirectory(h) for every host, in parallel
//           → gate: nothing activates before every host prepared
//           → migration once, on the migration host
//           → the rollout: batches hidden from the load balancer, switched, smoke-tested,
//             unhidden (see rollout.ts)
//           → prune on each host after its switch.
import * as pulumi from "@pulumi/pulumi";
import { Host } from "./host";
import { hostStep } from "./host-step";
import { ArtifactRef, PrepareSpec, ReleaseDirectory } from "./release-directory";
import { LoadBalancerMembership } from "./load-balancer";
import { Rollout, SmokeSpec } from "./rollout";
import { runMigration } from "../scripts/migrate";
import { pruneReleases } from "../scripts/prune";
import { BatchSize, batchCount, validateCommand, validateKeepReleases, validateLabel } from "../plan";

export interface MigrationSpec {
  /** Name of the host that runs it (keep it stable: the run-once marker lives there). */
  host: string;
  command: string;
  /** Runs first; a failing backup stops the migration. */
  backupCommand?: string;
}

export interface DeploymentArgs {
  hosts: Host[];
  artifact: pulumi.Input<ArtifactRef>;
  prepare?: PrepareSpec;
  migration?: MigrationSpec;
  /** Releases kept on each host, current and previous included (default 5, at least 2). */
  keepReleases?: number;
  /** Who deploys (history.log, lock owner). */
  deployer: string;
  /** The stack deploying (lock messages name it). */
  stack: string;
  /** Hosts of its role are hidden from it while they switch. */
  loadBalancer?: LoadBalancerMembership;
  /** Hosts per rollout batch: a count or a percentage ("25%"); default 1. */
  batchSize?: BatchSize;
  /** Checked on each host after it switched; a failure restores that host and stops. */
  smoke?: SmokeSpec;
  /** On a failure, switch the hosts of earlier batches back too. */
  restoreCycled?: boolean;
}

function validate(args: DeploymentArgs): void {
  if (args.hosts.length === 0) throw new Error("Deployment: hosts is empty; give at least one host to deploy to");
  const names = args.hosts.map((h) => h.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new Error(`Deployment: host ${dup} appears twice in hosts; host names must be unique`);
  validateKeepReleases(args.keepReleases ?? 5, "keepReleases");
  validateLabel(args.deployer, "deployer");
  validateLabel(args.stack, "stack");
  if (args.prepare?.installCommand !== undefined) validateCommand(args.prepare.installCommand, "prepare.installCommand");
  for (const [role, hooks] of Object.entries(args.prepare?.buildHooks ?? {})) {
    hooks.forEach((h, i) => validateCommand(h, `prepare.buildHooks.${role}[${i}]`));
  }
  batchCount(args.hosts.length, args.batchSize ?? 1, "batchSize");
  if (args.smoke && !/^\/[A-Za-z0-9._~!$&'()*+,;=:@/?%-]*$/.test(args.smoke.path)) {
    throw new Error(`Deployment: smoke.path ${JSON.stringify(args.smoke.path)} is invalid: give the URL path the app answers with its release id, e.g. "/healthz"`);
  }
  if (args.loadBalancer && !args.hosts.some((h) => h.roles.includes(args.loadBalancer!.role))) {
    throw new Error(`Deployment: no host has the load balancer's role "${args.loadBalancer.role}"; give hosts that role or drop loadBalancer`);
  }
  if (args.migration) {
    if (!names.includes(args.migration.host)) {
      throw new Error(`Deployment: migration.host ${JSON.stringify(args.migration.host)} is not one of the hosts (${names.join(", ")}); name one of them`);
    }
    validateCommand(args.migration.command, "migration.command");
    if (args.migration.backupCommand !== undefined) validateCommand(args.migration.backupCommand, "migration.backupCommand");
  }
}

export class Deployment extends pulumi.ComponentResource {
  readonly releaseId: pulumi.Output<string>;
  /** `batch 1/4 (hidden from the load balancer): web1` …, in rollout order. */
  readonly rolloutPlan: string[];

  constructor(name: string, args: DeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("cutover:deploy:Deployment", name, {}, opts);
    validate(args); // before any resource exists, so bad input changes nothing on a host
    const artifact = pulumi.output(args.artifact);
    this.releaseId = artifact.releaseId;
    const lock = { owner: args.deployer, stack: args.stack };
    const keep = args.keepReleases ?? 5;

    const prepared = args.hosts.map(
      (host) =>
        new ReleaseDirectory(`${name}-${host.name}`, { host, artifact, prepare: args.prepare ?? {}, lock }, { parent: this })
          .prepared,
    );
    const gate: pulumi.Resource[] = [...prepared];
    if (args.migration) {
      const m = args.migration;
      const host = args.hosts.find((h) => h.name === m.host)!;
      const migrate = (id: string) =>
        runMigration({ root: host.root, releaseId: id, host: host.name, command: m.command, backupCommand: m.backupCommand });
      gate.push(hostStep(`${name}-migrate`, host, lock, this.releaseId, migrate, { parent: this, dependsOn: prepared }));
    }

    const rollout = new Rollout(
      `${name}-rollout`,
      {
        hosts: args.hosts,
        releaseId: this.releaseId,
        gate,
        lock,
        deployer: args.deployer,
        loadBalancer: args.loadBalancer,
        batchSize: args.batchSize,
        smoke: args.smoke,
        restoreCycled: args.restoreCycled,
      },
      { parent: this },
    );
    this.rolloutPlan = rollout.plan;
    for (const host of args.hosts) {
      hostStep(`${name}-${host.name}-prune`, host, lock, this.releaseId, () => pruneReleases({ root: host.root, keep, host: host.name }), {
        parent: this,
        dependsOn: [rollout.switched[host.name]],
      });
    }
    this.registerOutputs({ releaseId: this.releaseId });
  }
}

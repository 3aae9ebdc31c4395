// The rollout: batch by batch, each host of a load-balanced role is hidden, switched and
// smoke-tested (restored on failure), then unhidden; batch k+1 starts after every host of
// batch k is back. Hosts of other roles switch afterwards without the balancer.
// A failure stops the rollout: later batches are skipped (their hosts never leave the old
// release), the failed host is back on its previous release and in rotation, and with
// `restoreCycled` the hosts that had already switched are switched back too. A final
// verdict step then fails the deploy, naming the host, the check and its last output.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { Host, connectionOf } from "./host";
import { LoadBalancerMembership } from "./load-balancer";
import { activateRelease, restorePrevious } from "../scripts/activate";
import { cycleHost, parseVerdict, skippedStep, Verdict } from "../scripts/cycle";
import { lockedStep } from "../scripts/locked";
import { LockArgs } from "../scripts/lock";
import { smokeTestOrRestore } from "../scripts/smoke";
import { script, sh } from "../scripts/quote";
import { BatchSize, describeRollout, planRollout } from "../plan";

export interface SmokeSpec {
  /** Path on each host's app, answering with the release id, e.g. "/healthz". */
  path: string;
  retries?: number;
  intervalSeconds?: number;
  deadlineSeconds?: number;
}

export interface RolloutArgs {
  hosts: Host[];
  releaseId: pulumi.Output<string>;
  /** Everything that must be done before the first switch (all prepared, migrated). */
  gate: pulumi.Resource[];
  lock: Omit<LockArgs, "root" | "host" | "release">;
  deployer: string;
  loadBalancer?: LoadBalancerMembership;
  /** Hosts per batch: a count or a percentage ("25%"); default 1. */
  batchSize?: BatchSize;
  smoke?: SmokeSpec;
  /** On a failure, switch the already-switched hosts back too (the fleet ends on one release). */
  restoreCycled?: boolean;
}

interface Switched {
  host: Host;
  batch: number;
  verdict: pulumi.Output<Verdict>;
  done: pulumi.Resource;
}

type Failure = { host: string; reason: string } | undefined;

const firstFailure = (switched: Switched[]): pulumi.Output<Failure> =>
  pulumi.all(switched.map((s) => s.verdict.apply((v) => ({ host: s.host.name, v })))).apply((vs) => {
    const f = vs.find((x) => x.v.state === "failed");
    return f && f.v.state === "failed" ? { host: f.host, reason: f.v.reason } : undefined;
  });

export class Rollout extends pulumi.ComponentResource {
  /** `batch 1/3 (hidden from the load balancer): web1` … — shown in previews. */
  readonly plan: string[];
  /** When each host's switch is complete (back in rotation), by host name. */
  readonly switched: Record<string, pulumi.Resource> = {};

  constructor(name: string, args: RolloutArgs, opts?: pulumi.ComponentResourceOptions) {
    super("cutover:deploy:Rollout", name, {}, opts);
    const lb = args.loadBalancer;
    const batches = planRollout(args.hosts, lb?.role, args.batchSize ?? 1);
    this.plan = describeRollout(batches);
    const byName = new Map(args.hosts.map((h) => [h.name, h]));
    const remote = (n: string, host: Host, text: pulumi.Input<string>, dependsOn: pulumi.Resource[]) =>
      new command.remote.Command(
        n,
        { connection: connectionOf(host), create: text, update: text, addPreviousOutputInEnv: false },
        { parent: this, dependsOn },
      );
    // Load-balancer steps don't otherwise mention the release; naming it makes every release
    // run them again (an unchanged script would be skipped by Pulumi).
    const forRelease = (id: string, text: string) => `${sh`cutover_release=${id}`}\n${text}`;
    const unlessStopped = (failure: pulumi.Output<Failure>, step: () => string, label: string) =>
      pulumi.all([failure, args.releaseId]).apply(([f, id]) =>
        f ? skippedStep(`${label}: skipped, the rollout of ${id} stopped at ${f.host}`) : forRelease(id, step()),
      );
    const lockFor = (h: Host, id: string) => ({ ...args.lock, root: h.root, host: h.name, release: id });

    const all: Switched[] = [];
    let previous: pulumi.Resource[] = args.gate;
    for (const batch of batches) {
      const failure = firstFailure(all); // of the batches before this one
      const doneThisBatch: Switched[] = [];
      for (const hostName of batch.hosts) {
        const h = byName.get(hostName)!;
        const tag = `${name}-batch${batch.index}-${h.name}`;
        const hidden = batch.behindLoadBalancer && lb;
        const hide = hidden ? [remote(`${tag}-hide`, lb.controller, unlessStopped(failure, () => lb.hide(h), `hide ${h.name}`), previous)] : [];
        const cycleText = pulumi.all([failure, args.releaseId]).apply(([f, id]) => {
          if (f) return skippedStep(`${h.name}: skipped, the rollout of ${id} stopped at ${f.host}`);
          const activate = activateRelease({ root: h.root, releaseId: id, host: h.name, restartCommand: h.restartCommand, by: args.deployer });
          const smoke = args.smoke
            ? smokeTestOrRestore(
                {
                  url: `http://${h.app.address}:${h.app.port}${args.smoke.path}`,
                  expectBody: id,
                  retries: args.smoke.retries ?? 20,
                  intervalSeconds: args.smoke.intervalSeconds ?? 1,
                  deadlineSeconds: args.smoke.deadlineSeconds ?? 30,
                  host: h.name,
                },
                { root: h.root, restartCommand: h.restartCommand, by: args.deployer },
              )
            : undefined;
          return lockedStep(lockFor(h, id), cycleHost({ host: h.name, activate, smokeOrRestore: smoke }));
        });
        const cycle = remote(`${tag}-switch`, h, cycleText, [...previous, ...hide]);
        const done = hidden ? remote(`${tag}-unhide`, lb.controller, unlessStopped(failure, () => lb.unhide(h), `unhide ${h.name}`), [cycle]) : cycle;
        doneThisBatch.push({ host: h, batch: batch.index, verdict: cycle.stdout.apply(parseVerdict), done });
        this.switched[h.name] = done;
      }
      all.push(...doneThisBatch);
      previous = doneThisBatch.map((s) => s.done);
    }

    const failure = firstFailure(all);
    if (args.restoreCycled) {
      // Switch back, one host at a time and each hidden meanwhile, every host that switched.
      for (const s of all) {
        const h = s.host;
        const tag = `${name}-restore-${h.name}`;
        const needed = pulumi.all([failure, s.verdict]).apply(([f, v]) => (f && v.state === "ok" ? f : undefined));
        const onlyIfNeeded = (step: () => string, what: string) =>
          pulumi.all([needed, args.releaseId]).apply(([f, id]) =>
            f ? forRelease(id, step()) : skippedStep(`${what}: nothing to restore for ${id}`),
          );
        const behind = lb && h.roles.includes(lb.role);
        const hide = behind ? [remote(`${tag}-hide`, lb.controller, onlyIfNeeded(() => lb.hide(h), `hide ${h.name}`), previous)] : [];
        const restore = remote(
          `${tag}-switch`,
          h,
          pulumi.all([needed, args.releaseId]).apply(([f, id]) =>
            f
              ? lockedStep(lockFor(h, id), restorePrevious({ root: h.root, host: h.name, restartCommand: h.restartCommand, by: args.deployer }))
              : skippedStep(`${h.name}: nothing to restore for ${id}`),
          ),
          [...previous, ...hide],
        );
        previous = [behind ? remote(`${tag}-unhide`, lb.controller, onlyIfNeeded(() => lb.unhide(h), `unhide ${h.name}`), [restore]) : restore];
      }
    }

    // The deploy's result: fails with the first failure, after every host is healthy again.
    new command.local.Command(
      `${name}-verdict`,
      {
        create: pulumi.all([failure, args.releaseId]).apply(([f, id]) =>
          f
            ? script([
                sh`printf '%s\n' ${`cutover: the rollout of ${id} stopped at host ${f.host}: ${f.reason}. ` +
                  `${f.host} is back on its previous release and in rotation; hosts after it were not switched` +
                  `${args.restoreCycled ? "; hosts switched before it were switched back" : ""}. ` +
                  `Fix the release and deploy again (to retry this same release, run \`pulumi up --replace\` on its switch steps).`} >&2`,
                "exit 1",
              ])
            : sh`echo ${`rollout of ${id} complete: ${all.length} hosts switched`}`,
        ),
        addPreviousOutputInEnv: false,
      },
      { parent: this, dependsOn: previous },
    );
    this.registerOutputs({ plan: this.plan });
  }
}

/**
 * AWS target-group membership (ALB or NLB), with the AWS SDK v3 from the deploying machine
 * (credentials from the SDK's default chain: environment, profile, SSO, web identity,
 * instance role; the agent keeps the AWS_* variables for it, see client.ts):
 * - rotation = DescribeTargetHealth of the target: registered (any state but `unused`, or
 *   `draining` away) is in rotation; not registered is Cutover's own hide when the group
 *   carries its marker for the target, else someone else's, left exactly as found;
 * - hide = check that enough other targets are `healthy` (minInRotation), tag the group with
 *   the marker, DeregisterTargets, then wait until the target has left the group (`unused`):
 *   the balancer sends it no new request at once and lets in-flight ones finish during the
 *   group's deregistration delay (set low, see lib/providers/lb/aws-target-group.ts);
 * - put back = RegisterTargets, wait until the group's health checks say `healthy`, then
 *   remove the marker.
 *
 * The marker is a tag on the target group, `cutover:hidden:<target id>:<port>` = `<prior
 * state> <time>`, written BEFORE the deregistration: whatever kills the agent after that, the
 * next `pulumi up` reads the marker and knows the target is its to put back. It is removed
 * only once the target is healthy again. A stale marker on a registered target is harmless
 * (a registered target is "in" whatever the tags say), so it is never removed on a failure: a
 * deregistration that failed ambiguously may have happened after all.
 *
 * What AWS does not offer, unlike HAProxy:
 * - no admin "drain" state: a target is registered or not, so `was` is always put back as
 *   registered;
 * - no "mark healthy at once": `checked` changes nothing, the group's health checks always
 *   decide when a registered target serves;
 * - no lease (HideOptions.leaseSeconds): nothing on the balancer's side re-registers a target
 *   by itself. A target hidden by an agent that was killed stays out until the next `pulumi
 *   up`, which finds the marker (rotation → cutover-hidden) and puts it back;
 * - no lock across deployers: the minInRotation check reads the group and then deregisters,
 *   so two deployers hiding at the same moment can both pass it. The check narrows that race
 *   (it re-reads right before each hide), it cannot close it.
 *
 * Every wait is bounded and fails naming the host, the target, the group, its last state and
 * AWS's reason: the minInRotation wait by drainSeconds, then the hide itself (marker,
 * deregistration, draining) by drainSeconds again; the put back by upSeconds. Throttled calls
 * are retried with backoff inside the same bound.
 */
import {
  AddTagsCommand,
  DeregisterTargetsCommand,
  DescribeTagsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
  RemoveTagsCommand,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import type { HideOptions, Membership, PriorState, Rotation, SlotServer } from ".";
import type { SlotName } from "../../scripts/standby";
import { AwsTargetGroupContext, HostContext } from "../context";

/** The part of the SDK client used here (a real client, or one under aws-sdk-client-mock). */
export interface Elbv2 {
  send: ElasticLoadBalancingV2Client["send"];
}

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: Clock = { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };

const THROTTLING = new Set(["Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded", "RequestThrottled"]);

export function isThrottling(e: unknown): boolean {
  const err = e as { name?: string; $retryable?: { throttling?: boolean } } | undefined;
  return THROTTLING.has(err?.name ?? "") || err?.$retryable?.throttling === true;
}

/** The tag key on the target group saying Cutover hid this target. */
export const markerKey = (target: { id: string; port: number }) => `cutover:hidden:${target.id}:${target.port}`;

interface Health {
  state: string;
  reason?: string;
  description?: string;
}

export function awsTargetGroupMembership(
  lb: AwsTargetGroupContext,
  client: Elbv2 = new ElasticLoadBalancingV2Client({ region: lb.region }),
  clock: Clock = realClock,
): Membership {
  // arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id> → <name>
  const group = /:targetgroup\/([^/]+)\//.exec(lb.targetGroupArn)?.[1] ?? lb.targetGroupArn;
  const arn = lb.targetGroupArn;
  const pollMs = (lb.pollSeconds ?? 2) * 1000;
  /** The host's target; `b`: its standby slot's, the same instance on the standby's port (overlap). */
  const targetOf = (h: HostContext, slot: SlotName = "a") => {
    const t = lb.targets[h.name];
    if (!t) throw new Error(`${h.name} has no target in ${group} (targets: ${Object.keys(lb.targets).join(", ") || "none"})`);
    if (slot === "b" && !h.standby) throw new Error(`${h.name} has no standby slot: the overlap strategy needs one on every host the target group fronts`);
    return { Id: t.id, Port: slot === "a" ? t.port : h.standby!.port };
  };
  const keyOf = (h: HostContext, slot: SlotName = "a") => markerKey({ id: targetOf(h, slot).Id, port: targetOf(h, slot).Port });
  const where = (h: HostContext, slot: SlotName = "a") => `${h.name} (target ${targetOf(h, slot).Id}:${targetOf(h, slot).Port} of ${group})`;
  const because = (last: Health) => (last.reason ? ` (${last.reason}${last.description ? `: ${last.description}` : ""})` : "");

  /** One SDK call, retried while AWS throttles, never past the deadline. */
  async function call<T>(h: HostContext, what: string, deadline: number, send: () => Promise<T>): Promise<T> {
    let backoff = 250;
    for (;;) {
      try {
        return await send();
      } catch (e) {
        if (!isThrottling(e)) throw new Error(`${what} ${where(h)} failed: ${(e as Error).name}: ${(e as Error).message}`);
        if (clock.now() + backoff > deadline) {
          throw new Error(`${what} ${where(h)} failed: AWS kept throttling the calls (${(e as Error).name}) until the deadline; run \`pulumi up\` again later`);
        }
        await clock.sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  async function health(h: HostContext, deadline: number, slot: SlotName = "a"): Promise<Health> {
    const out = await call(h, "reading the health of", deadline, () =>
      client.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn, Targets: [targetOf(h, slot)] })),
    );
    const d = out.TargetHealthDescriptions?.[0]?.TargetHealth;
    return { state: d?.State ?? "unused", reason: d?.Reason, description: d?.Description };
  }

  /** Polls `read` until `done`; past the deadline, fails with what `fail` says of the last reading. */
  async function poll<R>(read: () => Promise<R>, done: (r: R) => boolean, deadline: number, fail: (last: R) => string): Promise<void> {
    for (;;) {
      const last = await read();
      if (done(last)) return;
      const left = deadline - clock.now();
      if (left <= 0) throw new Error(fail(last));
      await clock.sleep(Math.min(pollMs, left));
    }
  }

  const waitFor = (h: HostContext, goal: string, done: (s: string) => boolean, seconds: number, deadline: number, slot: SlotName = "a") =>
    poll(
      () => health(h, deadline, slot),
      (last) => done(last.state),
      deadline,
      (last) => `${where(h, slot)} did not ${goal} within ${seconds} s: last state ${last.state}${because(last)}`,
    );

  /** The marker's value for this target, if the group carries one. */
  async function marker(h: HostContext, deadline: number, slot: SlotName = "a"): Promise<string | undefined> {
    const out = await call(h, "reading the tags of the group of", deadline, () => client.send(new DescribeTagsCommand({ ResourceArns: [arn] })));
    const tags = out.TagDescriptions?.find((d) => d.ResourceArn === arn)?.Tags ?? [];
    return tags.find((t) => t.Key === keyOf(h, slot))?.Value;
  }

  /** Waits (bounded) until at least `min` targets other than this host's are healthy. */
  async function enoughOthers(h: HostContext, min: number, deadline: number): Promise<void> {
    const self = targetOf(h);
    const others = async () => {
      const out = await call(h, "reading the health of every target before hiding", deadline, () =>
        client.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn })),
      );
      return (out.TargetHealthDescriptions ?? []).filter(
        (d) => d.TargetHealth?.State === "healthy" && !(d.Target?.Id === self.Id && (d.Target?.Port ?? self.Port) === self.Port),
      ).length;
    };
    await poll(
      others,
      (healthy) => healthy >= min,
      deadline,
      (healthy) =>
        `not hiding ${where(h)}: ${group} has ${healthy} other healthy target${healthy === 1 ? "" : "s"} and minInRotation is ${min}; ` +
        `waited ${lb.drainSeconds} s for more to turn healthy (another deploy hiding targets, or targets failing their health checks?). ` +
        "Nothing was changed; run `pulumi up` again once the group is healthy",
    );
  }

  return {
    fronts: (h) => h.roles.includes(lb.role) && lb.targets[h.name] !== undefined,
    // No balancer-side guard exists for a target group: the next `pulumi up` finds the marker.
    guarded: false,

    // Overlap: a target per slot (the instance on each slot's port). The idle slot's target is
    // deregistered with a marker tag saying `idle`, so it is never taken for someone else's.
    slots: {
      async servers(h) {
        const deadline = clock.now() + lb.upSeconds * 1000;
        const one = async (slot: SlotName): Promise<SlotServer> => {
          const now = await health(h, deadline, slot);
          const inRotation = now.state !== "unused" && now.state !== "draining";
          const ours = inRotation ? false : (await marker(h, deadline, slot)) !== undefined;
          return { inRotation, admin: "ready", ours, status: now.state };
        };
        const [a, b] = await Promise.all([one("a"), one("b")]);
        return { a, b };
      },
      // A target group cannot mark a target healthy: the new slot's target serves once the
      // group's own checks say healthy, and only then is the old one deregistered.
      async move(h, o) {
        const up = clock.now() + lb.upSeconds * 1000;
        const to = targetOf(h, o.to);
        await call(h, "registering", up, () => client.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: [to] })));
        await waitFor(h, "turn healthy", (s) => s === "healthy", lb.upSeconds, up, o.to);
        await call(h, "removing the marker of", up, () => client.send(new RemoveTagsCommand({ ResourceArns: [arn], TagKeys: [keyOf(h, o.to)] })));
        if (o.from === undefined) return;
        const from = o.from;
        const drain = clock.now() + lb.drainSeconds * 1000;
        const Tags = [{ Key: keyOf(h, from), Value: `idle ${new Date(clock.now()).toISOString()}` }];
        await call(h, "marking as idle", drain, () => client.send(new AddTagsCommand({ ResourceArns: [arn], Tags })));
        await call(h, "deregistering", drain, () => client.send(new DeregisterTargetsCommand({ TargetGroupArn: arn, Targets: [targetOf(h, from)] })));
        await waitFor(h, "finish draining", (s) => s === "unused", lb.drainSeconds, drain, from);
      },
    },

    async rotation(h): Promise<Rotation> {
      const deadline = clock.now() + lb.upSeconds * 1000;
      const now = await health(h, deadline);
      // `draining` is a target on its way out (deregistered), `unused` one that is gone.
      if (now.state !== "unused" && now.state !== "draining") return { kind: "in", admin: "ready" };
      const mark = await marker(h, deadline);
      if (mark !== undefined) return { kind: "cutover-hidden", was: priorOf(mark) };
      const t = targetOf(h);
      // The cycle adds ": left as found" (cycle.ts), as for HAProxy's operator MAINT.
      return {
        kind: "operator-out",
        detail: `${h.name} (target ${t.Id}:${t.Port}, state ${now.state}) is not registered in ${group} (deregistered by someone else)`,
      };
    },

    async hide(h, options: HideOptions) {
      if (options.minInRotation > 0) await enoughOthers(h, options.minInRotation, clock.now() + lb.drainSeconds * 1000);
      const deadline = clock.now() + lb.drainSeconds * 1000;
      // The marker first: from the deregistration on, a killed agent leaves it behind.
      const Tags = [{ Key: keyOf(h), Value: `${options.was} ${new Date(clock.now()).toISOString()}` }];
      await call(h, "marking as hidden by Cutover", deadline, () => client.send(new AddTagsCommand({ ResourceArns: [arn], Tags })));
      await call(h, "deregistering", deadline, () => client.send(new DeregisterTargetsCommand({ TargetGroupArn: arn, Targets: [targetOf(h)] })));
      // `draining` while in-flight requests finish; `unused` (Target.NotRegistered) once gone.
      await waitFor(h, "finish draining", (s) => s === "unused", lb.drainSeconds, deadline);
    },

    // `was` and `checked` change nothing on AWS (see the top of this file).
    async putBack(h) {
      const deadline = clock.now() + lb.upSeconds * 1000;
      await call(h, "registering", deadline, () => client.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: [targetOf(h)] })));
      await waitFor(h, "turn healthy", (s) => s === "healthy", lb.upSeconds, deadline);
      await call(h, "removing the hidden marker of", deadline, () => client.send(new RemoveTagsCommand({ ResourceArns: [arn], TagKeys: [keyOf(h)] })));
    },
  };
}

/** The prior state a marker recorded (`ready 2026-…`); a target group only knows "ready". */
function priorOf(marker: string): PriorState {
  return marker.split(" ")[0] === "drain" ? "drain" : "ready";
}

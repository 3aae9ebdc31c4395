/**
 * AWS target-group membership (ALB or NLB), with the AWS SDK v3 from the deploying machine
 * (credentials from the SDK's default chain: environment, profile, SSO, instance role):
 * - hide = DeregisterTargets, then wait until the target has left the group (state `unused`):
 *   the balancer sends it no new request at once and lets in-flight ones finish during the
 *   group's deregistration delay (set low, see lib/providers/lb/aws-target-group.ts);
 * - unhide = RegisterTargets, then wait until the group's health checks say `healthy`.
 * Both waits are bounded (drainSeconds, upSeconds) and fail naming the host, the target, its
 * last state and AWS's reason. Throttled calls are retried with backoff inside the same bound.
 */
import {
  DeregisterTargetsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import type { Membership } from ".";
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
  const pollMs = (lb.pollSeconds ?? 2) * 1000;
  const targetOf = (h: HostContext) => {
    const t = lb.targets[h.name];
    if (!t) throw new Error(`${h.name} has no target in ${group} (targets: ${Object.keys(lb.targets).join(", ") || "none"})`);
    return { Id: t.id, Port: t.port };
  };
  const where = (h: HostContext) => `${h.name} (target ${targetOf(h).Id}:${targetOf(h).Port} of ${group})`;

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

  async function health(h: HostContext, deadline: number): Promise<Health> {
    const out = await call(h, "reading the health of", deadline, () =>
      client.send(new DescribeTargetHealthCommand({ TargetGroupArn: lb.targetGroupArn, Targets: [targetOf(h)] })),
    );
    const d = out.TargetHealthDescriptions?.[0]?.TargetHealth;
    return { state: d?.State ?? "unused", reason: d?.Reason, description: d?.Description };
  }

  async function waitFor(h: HostContext, goal: string, done: (s: string) => boolean, seconds: number, deadline: number): Promise<void> {
    for (;;) {
      const last = await health(h, deadline);
      if (done(last.state)) return;
      const left = deadline - clock.now();
      if (left <= 0) {
        const why = last.reason ? ` (${last.reason}${last.description ? `: ${last.description}` : ""})` : "";
        throw new Error(`${where(h)} did not ${goal} within ${seconds} s: last state ${last.state}${why}`);
      }
      await clock.sleep(Math.min(pollMs, left));
    }
  }

  return {
    fronts: (h) => h.roles.includes(lb.role) && lb.targets[h.name] !== undefined,
    async hide(h) {
      const deadline = clock.now() + lb.drainSeconds * 1000;
      await call(h, "deregistering", deadline, () =>
        client.send(new DeregisterTargetsCommand({ TargetGroupArn: lb.targetGroupArn, Targets: [targetOf(h)] })),
      );
      // `draining` while in-flight requests finish; `unused` (Target.NotRegistered) once gone.
      await waitFor(h, "finish draining", (s) => s === "unused", lb.drainSeconds, deadline);
    },
    async unhide(h) {
      const deadline = clock.now() + lb.upSeconds * 1000;
      await call(h, "registering", deadline, () =>
        client.send(new RegisterTargetsCommand({ TargetGroupArn: lb.targetGroupArn, Targets: [targetOf(h)] })),
      );
      await waitFor(h, "turn healthy", (s) => s === "healthy", lb.upSeconds, deadline);
    },
    inRotation: async (h) => (await health(h, clock.now() + lb.upSeconds * 1000)).state === "healthy",
  };
}

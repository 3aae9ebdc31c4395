// The AWS target-group membership at the SDK boundary (aws-sdk-client-mock): what it sends,
// how it waits, and that every wait is bounded — a target that never turns healthy, a drain
// that never ends, throttling. The clock is simulated, so bounds of minutes take no time.
import { beforeEach, describe, expect, it } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import {
  DeregisterTargetsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  ElasticLoadBalancingV2ServiceException,
  RegisterTargetsCommand,
  TargetHealthStateEnum,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { awsTargetGroupMembership, Clock, isThrottling } from "./aws-target-group";
import { membershipFor } from ".";
import { AwsTargetGroupContext, HostContext } from "../context";
import { SshPool } from "../ssh-pool";

const arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/prod-web/0123456789abcdef";
const lb: AwsTargetGroupContext = {
  kind: "aws-target-group",
  role: "web",
  region: "eu-west-1",
  targetGroupArn: arn,
  targets: { web1: { id: "i-0aaa", port: 8080 }, web2: { id: "i-0bbb", port: 8080 } },
  drainSeconds: 30,
  upSeconds: 60,
  pollSeconds: 2,
};
const host = (name: string, roles = ["web"]): HostContext => ({
  name,
  roles,
  root: "/srv/app",
  restartCommand: "true",
  app: { address: "10.0.1.10", port: 8080 },
  ssh: { address: "10.0.1.10", port: 22, user: "cutover", privateKey: "k", hostKey: "ssh-ed25519 AAAA" },
});
const web1 = host("web1");

const elb = mockClient(ElasticLoadBalancingV2Client);

/** Simulated time: sleep advances it at once. */
function fakeClock(): Clock & { elapsed(): number } {
  let t = 0;
  return { now: () => t, sleep: async (ms) => void (t += ms), elapsed: () => t };
}

const healthOf = (State: TargetHealthStateEnum, Reason?: string, Description?: string) => ({
  TargetHealthDescriptions: [{ Target: { Id: "i-0aaa", Port: 8080 }, TargetHealth: { State, Reason: Reason as never, Description } }],
});

const throttled = () =>
  new ElasticLoadBalancingV2ServiceException({ name: "ThrottlingException", $fault: "client", $metadata: {}, message: "Rate exceeded" });

let clock: ReturnType<typeof fakeClock>;
const membership = (ctx: AwsTargetGroupContext = lb) => awsTargetGroupMembership(ctx, new ElasticLoadBalancingV2Client({ region: ctx.region }), clock);

beforeEach(() => {
  elb.reset();
  clock = fakeClock();
});

describe("AWS target-group membership", () => {
  it("hide deregisters the host's target and waits until draining is over", async () => {
    elb.on(DeregisterTargetsCommand).resolves({});
    elb
      .on(DescribeTargetHealthCommand)
      .resolvesOnce(healthOf("draining", "Target.DeregistrationInProgress"))
      .resolvesOnce(healthOf("draining", "Target.DeregistrationInProgress"))
      .resolves(healthOf("unused", "Target.NotRegistered"));
    await membership().hide(web1);
    expect(elb.commandCalls(DeregisterTargetsCommand).map((c) => c.args[0].input)).toEqual([
      { TargetGroupArn: arn, Targets: [{ Id: "i-0aaa", Port: 8080 }] },
    ]);
    expect(elb.commandCalls(DescribeTargetHealthCommand)[0].args[0].input).toEqual({ TargetGroupArn: arn, Targets: [{ Id: "i-0aaa", Port: 8080 }] });
    expect(elb.commandCalls(DescribeTargetHealthCommand)).toHaveLength(3);
    expect(clock.elapsed()).toBe(4000); // two polls of 2 s while draining
  });

  it("unhide registers the target and waits until the health checks say healthy", async () => {
    elb.on(RegisterTargetsCommand).resolves({});
    elb
      .on(DescribeTargetHealthCommand)
      .resolvesOnce(healthOf("initial", "Elb.RegistrationInProgress"))
      .resolvesOnce(healthOf("initial", "Elb.InitialHealthChecking"))
      .resolves(healthOf("healthy"));
    await membership().unhide(web1);
    expect(elb.commandCalls(RegisterTargetsCommand).map((c) => c.args[0].input)).toEqual([
      { TargetGroupArn: arn, Targets: [{ Id: "i-0aaa", Port: 8080 }] },
    ]);
    expect(elb.commandCalls(DescribeTargetHealthCommand)).toHaveLength(3);
  });

  it("a target that never turns healthy fails unhide after upSeconds, with AWS's reason", async () => {
    elb.on(RegisterTargetsCommand).resolves({});
    elb.on(DescribeTargetHealthCommand).resolves(healthOf("unhealthy", "Target.ResponseCodeMismatch", "Health checks failed with these codes: [502]"));
    await expect(membership().unhide(web1)).rejects.toThrow(
      "web1 (target i-0aaa:8080 of prod-web) did not turn healthy within 60 s: last state unhealthy (Target.ResponseCodeMismatch: Health checks failed with these codes: [502])",
    );
    expect(clock.elapsed()).toBe(60_000);
    expect(elb.commandCalls(DescribeTargetHealthCommand)).toHaveLength(31); // every 2 s, then the last look at the deadline
  });

  it("a drain that never ends fails hide after drainSeconds", async () => {
    elb.on(DeregisterTargetsCommand).resolves({});
    elb.on(DescribeTargetHealthCommand).resolves(healthOf("draining", "Target.DeregistrationInProgress"));
    await expect(membership().hide(web1)).rejects.toThrow(/^web1 \(target i-0aaa:8080 of .*\) did not finish draining within 30 s: last state draining/);
    expect(clock.elapsed()).toBe(30_000);
  });

  it("throttled calls are retried with backoff and the step still succeeds", async () => {
    elb.on(DeregisterTargetsCommand).rejectsOnce(throttled()).rejectsOnce(throttled()).resolves({});
    elb.on(DescribeTargetHealthCommand).rejectsOnce(throttled()).resolves(healthOf("unused", "Target.NotRegistered"));
    await membership().hide(web1);
    expect(elb.commandCalls(DeregisterTargetsCommand)).toHaveLength(3);
    expect(elb.commandCalls(DescribeTargetHealthCommand)).toHaveLength(2);
    expect(clock.elapsed()).toBe(250 + 500 + 250); // backoff doubles per call, restarts for the next call
  });

  it("throttling that never stops fails within the bound, saying so", async () => {
    elb.on(RegisterTargetsCommand).rejects(throttled());
    await expect(membership().unhide(web1)).rejects.toThrow(
      "registering web1 (target i-0aaa:8080 of prod-web) failed: AWS kept throttling the calls (ThrottlingException) until the deadline; run `pulumi up` again later",
    );
    expect(clock.elapsed()).toBeLessThanOrEqual(60_000);
    expect(elb.commandCalls(RegisterTargetsCommand).length).toBeLessThan(20);
  });

  it("other errors are not retried and name the host", async () => {
    elb.on(DeregisterTargetsCommand).rejects(
      new ElasticLoadBalancingV2ServiceException({ name: "AccessDenied", $fault: "client", $metadata: {}, message: "not authorized to perform: elasticloadbalancing:DeregisterTargets" }),
    );
    await expect(membership().hide(web1)).rejects.toThrow(/^deregistering web1 \(target i-0aaa:8080 .*\) failed: AccessDenied: not authorized/);
    expect(elb.commandCalls(DeregisterTargetsCommand)).toHaveLength(1);
  });

  it("inRotation is healthy; fronts needs the role and a target", async () => {
    elb.on(DescribeTargetHealthCommand).resolvesOnce(healthOf("healthy")).resolves(healthOf("draining"));
    const m = membership();
    expect(await m.inRotation(web1)).toBe(true);
    expect(await m.inRotation(web1)).toBe(false);
    expect(m.fronts(web1)).toBe(true);
    expect(m.fronts(host("worker1", ["worker"]))).toBe(false);
    expect(m.fronts(host("web9"))).toBe(false);
  });

  it("membershipFor picks the backend from the context's kind", () => {
    const m = membershipFor(lb, new SshPool());
    expect(m?.fronts(web1)).toBe(true);
    expect(isThrottling(throttled())).toBe(true);
    expect(isThrottling(new Error("x"))).toBe(false);
  });
});

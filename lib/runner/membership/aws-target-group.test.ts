// The AWS target-group membership at the SDK boundary (aws-sdk-client-mock): what it reads
// before a hide (rotation, the marker tag), what it sends and in which order (marker before
// deregistration, marker removed after healthy), minInRotation, and that every wait is
// bounded — a target that never turns healthy, a drain that never ends, a group without
// enough healthy targets, throttling. The clock is simulated, so bounds of minutes take no time.
import { beforeEach, describe, expect, it } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import {
  AddTagsCommand,
  DeregisterTargetsCommand,
  DescribeTagsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  ElasticLoadBalancingV2ServiceException,
  RegisterTargetsCommand,
  RemoveTagsCommand,
  TargetHealthStateEnum,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { awsTargetGroupMembership, Clock, isThrottling, markerKey } from "./aws-target-group";
import { HideOptions, membershipFor } from ".";
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
const marker = markerKey({ id: "i-0aaa", port: 8080 });
const hideOptions: HideOptions = { was: "ready", minInRotation: 0, leaseSeconds: 0 };

const elb = mockClient(ElasticLoadBalancingV2Client);

/** Simulated time: sleep advances it at once. */
function fakeClock(): Clock & { elapsed(): number } {
  let t = 0;
  return { now: () => t, sleep: async (ms) => void (t += ms), elapsed: () => t };
}

const healthOf = (State: TargetHealthStateEnum, Reason?: string, Description?: string) => ({
  TargetHealthDescriptions: [{ Target: { Id: "i-0aaa", Port: 8080 }, TargetHealth: { State, Reason: Reason as never, Description } }],
});

/** DescribeTargetHealth of the whole group: web1 healthy, plus the others given. */
const groupOf = (...others: [string, TargetHealthStateEnum][]) => ({
  TargetHealthDescriptions: [["i-0aaa", "healthy"] as const, ...others].map(([Id, State]) => ({ Target: { Id, Port: 8080 }, TargetHealth: { State } })),
});

const tagsOf = (tags: Record<string, string>) => ({
  TagDescriptions: [{ ResourceArn: arn, Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }],
});

const throttled = () =>
  new ElasticLoadBalancingV2ServiceException({ name: "ThrottlingException", $fault: "client", $metadata: {}, message: "Rate exceeded" });

/** The actions sent, in order, as the ELBv2 API names them. */
const actions = () => elb.calls().map((c) => (c.args[0] as object).constructor.name.replace(/Command$/, ""));

let clock: ReturnType<typeof fakeClock>;
const membership = (ctx: AwsTargetGroupContext = lb) => awsTargetGroupMembership(ctx, new ElasticLoadBalancingV2Client({ region: ctx.region }), clock);

beforeEach(() => {
  elb.reset();
  clock = fakeClock();
});

describe("AWS target-group membership: rotation", () => {
  it("a registered target is in rotation (ready), whatever its health; the tags are not read", async () => {
    for (const state of ["healthy", "initial", "unhealthy", "unavailable", "unhealthy.draining"] as const) {
      elb.reset();
      elb.on(DescribeTargetHealthCommand).resolves(healthOf(state));
      expect(await membership().rotation(web1)).toEqual({ kind: "in", admin: "ready" });
      expect(actions()).toEqual(["DescribeTargetHealth"]);
    }
    expect(elb.commandCalls(DescribeTargetHealthCommand)[0].args[0].input).toEqual({ TargetGroupArn: arn, Targets: [{ Id: "i-0aaa", Port: 8080 }] });
  });

  it("not registered, with Cutover's marker on the group: hidden by an earlier attempt, to put back", async () => {
    for (const state of ["unused", "draining"] as const) {
      elb.reset();
      elb.on(DescribeTargetHealthCommand).resolves(healthOf(state));
      elb.on(DescribeTagsCommand).resolves(tagsOf({ env: "prod", [marker]: "ready 2026-12-02T12:00:00.000Z" }));
      expect(await membership().rotation(web1)).toEqual({ kind: "cutover-hidden", was: "ready" });
      expect(elb.commandCalls(DescribeTagsCommand)[0].args[0].input).toEqual({ ResourceArns: [arn] });
    }
  });

  it("not registered without a marker (or with another target's): someone else's, left as found", async () => {
    elb.on(DescribeTargetHealthCommand).resolves(healthOf("unused", "Target.NotRegistered"));
    elb.on(DescribeTagsCommand).resolves(tagsOf({ [markerKey({ id: "i-0bbb", port: 8080 })]: "ready x", [markerKey({ id: "i-0aaa", port: 9090 })]: "ready x" }));
    expect(await membership().rotation(web1)).toEqual({
      kind: "operator-out",
      detail: "web1 (target i-0aaa:8080, state unused) is not registered in prod-web (deregistered by someone else)",
    });
  });

  it("a failed read names the host, target and group", async () => {
    elb.on(DescribeTargetHealthCommand).rejects(
      new ElasticLoadBalancingV2ServiceException({ name: "TargetGroupNotFoundException", $fault: "client", $metadata: {}, message: "One or more target groups not found" }),
    );
    await expect(membership().rotation(web1)).rejects.toThrow(
      "reading the health of web1 (target i-0aaa:8080 of prod-web) failed: TargetGroupNotFoundException: One or more target groups not found",
    );
  });
});

describe("AWS target-group membership: hide", () => {
  it("writes the marker, then deregisters, then waits until draining is over", async () => {
    elb.on(AddTagsCommand).resolves({});
    elb.on(DeregisterTargetsCommand).resolves({});
    elb
      .on(DescribeTargetHealthCommand)
      .resolvesOnce(healthOf("draining", "Target.DeregistrationInProgress"))
      .resolvesOnce(healthOf("draining", "Target.DeregistrationInProgress"))
      .resolves(healthOf("unused", "Target.NotRegistered"));
    await membership().hide(web1, hideOptions);
    expect(actions()).toEqual(["AddTags", "DeregisterTargets", "DescribeTargetHealth", "DescribeTargetHealth", "DescribeTargetHealth"]);
    expect(elb.commandCalls(AddTagsCommand)[0].args[0].input).toEqual({ ResourceArns: [arn], Tags: [{ Key: "cutover:hidden:i-0aaa:8080", Value: "ready 1970-01-01T00:00:00.000Z" }] });
    expect(elb.commandCalls(DeregisterTargetsCommand)[0].args[0].input).toEqual({ TargetGroupArn: arn, Targets: [{ Id: "i-0aaa", Port: 8080 }] });
    expect(clock.elapsed()).toBe(4000); // two polls of 2 s while draining
  });

  it("minInRotation: counts the other healthy targets of the group first, then hides", async () => {
    elb.on(AddTagsCommand).resolves({});
    elb.on(DeregisterTargetsCommand).resolves({});
    elb.on(DescribeTargetHealthCommand).callsFake((input) => (input.Targets ? healthOf("unused") : groupOf(["i-0bbb", "healthy"], ["i-0ccc", "healthy"])));
    await membership().hide(web1, { ...hideOptions, minInRotation: 2 });
    expect(actions()).toEqual(["DescribeTargetHealth", "AddTags", "DeregisterTargets", "DescribeTargetHealth"]);
    expect(elb.commandCalls(DescribeTargetHealthCommand)[0].args[0].input).toEqual({ TargetGroupArn: arn });
    expect(clock.elapsed()).toBe(0);
  });

  it("minInRotation: waits while too few others are healthy (this target not counted), then hides", async () => {
    elb.on(AddTagsCommand).resolves({});
    elb.on(DeregisterTargetsCommand).resolves({});
    let groupReads = 0;
    elb.on(DescribeTargetHealthCommand).callsFake((input) => {
      if (input.Targets) return healthOf("unused");
      return ++groupReads < 3 ? groupOf(["i-0bbb", "initial"]) : groupOf(["i-0bbb", "healthy"]);
    });
    await membership().hide(web1, { ...hideOptions, minInRotation: 1 });
    expect(groupReads).toBe(3);
    expect(elb.commandCalls(DeregisterTargetsCommand)).toHaveLength(1);
    expect(clock.elapsed()).toBe(4000);
  });

  it("minInRotation: too few healthy targets for drainSeconds fails naming the group, the count and the minimum, changing nothing", async () => {
    elb.on(DescribeTargetHealthCommand).resolves(groupOf(["i-0bbb", "healthy"], ["i-0ccc", "unhealthy"], ["i-0ddd", "draining"]));
    await expect(membership().hide(web1, { ...hideOptions, minInRotation: 2 })).rejects.toThrow(
      "not hiding web1 (target i-0aaa:8080 of prod-web): prod-web has 1 other healthy target and minInRotation is 2; waited 30 s for more to turn healthy",
    );
    expect(clock.elapsed()).toBe(30_000);
    expect(elb.commandCalls(AddTagsCommand)).toHaveLength(0);
    expect(elb.commandCalls(DeregisterTargetsCommand)).toHaveLength(0);
  });

  it("a drain that never ends fails after drainSeconds, leaving the marker", async () => {
    elb.on(AddTagsCommand).resolves({});
    elb.on(DeregisterTargetsCommand).resolves({});
    elb.on(DescribeTargetHealthCommand).resolves(healthOf("draining", "Target.DeregistrationInProgress"));
    await expect(membership().hide(web1, hideOptions)).rejects.toThrow(
      /^web1 \(target i-0aaa:8080 of prod-web\) did not finish draining within 30 s: last state draining \(Target.DeregistrationInProgress\)$/,
    );
    expect(clock.elapsed()).toBe(30_000);
    expect(elb.commandCalls(RemoveTagsCommand)).toHaveLength(0);
  });

  it("a marker that cannot be written stops the hide before anything is deregistered", async () => {
    elb.on(AddTagsCommand).rejects(
      new ElasticLoadBalancingV2ServiceException({ name: "AccessDenied", $fault: "client", $metadata: {}, message: "not authorized to perform: elasticloadbalancing:AddTags" }),
    );
    await expect(membership().hide(web1, hideOptions)).rejects.toThrow(
      "marking as hidden by Cutover web1 (target i-0aaa:8080 of prod-web) failed: AccessDenied: not authorized to perform: elasticloadbalancing:AddTags",
    );
    expect(elb.commandCalls(DeregisterTargetsCommand)).toHaveLength(0);
  });

  it("other errors are not retried and name the host", async () => {
    elb.on(AddTagsCommand).resolves({});
    elb.on(DeregisterTargetsCommand).rejects(
      new ElasticLoadBalancingV2ServiceException({ name: "AccessDenied", $fault: "client", $metadata: {}, message: "not authorized to perform: elasticloadbalancing:DeregisterTargets" }),
    );
    await expect(membership().hide(web1, hideOptions)).rejects.toThrow(/^deregistering web1 \(target i-0aaa:8080 .*\) failed: AccessDenied: not authorized/);
    expect(elb.commandCalls(DeregisterTargetsCommand)).toHaveLength(1);
  });
});

describe("AWS target-group membership: put back", () => {
  it("registers, waits until the health checks say healthy, then removes the marker; checked or not, the same", async () => {
    for (const checked of [true, false]) {
      elb.reset();
      clock = fakeClock();
      elb.on(RegisterTargetsCommand).resolves({});
      elb.on(RemoveTagsCommand).resolves({});
      elb
        .on(DescribeTargetHealthCommand)
        .resolvesOnce(healthOf("initial", "Elb.RegistrationInProgress"))
        .resolvesOnce(healthOf("initial", "Elb.InitialHealthChecking"))
        .resolves(healthOf("healthy"));
      await membership().putBack(web1, { was: "ready", checked });
      expect(actions()).toEqual(["RegisterTargets", "DescribeTargetHealth", "DescribeTargetHealth", "DescribeTargetHealth", "RemoveTags"]);
      expect(elb.commandCalls(RegisterTargetsCommand)[0].args[0].input).toEqual({ TargetGroupArn: arn, Targets: [{ Id: "i-0aaa", Port: 8080 }] });
      expect(elb.commandCalls(RemoveTagsCommand)[0].args[0].input).toEqual({ ResourceArns: [arn], TagKeys: ["cutover:hidden:i-0aaa:8080"] });
      expect(clock.elapsed()).toBe(4000);
    }
  });

  it("a target that never turns healthy fails after upSeconds with AWS's reason, and keeps its marker", async () => {
    elb.on(RegisterTargetsCommand).resolves({});
    elb.on(DescribeTargetHealthCommand).resolves(healthOf("unhealthy", "Target.ResponseCodeMismatch", "Health checks failed with these codes: [502]"));
    await expect(membership().putBack(web1, { was: "ready", checked: true })).rejects.toThrow(
      "web1 (target i-0aaa:8080 of prod-web) did not turn healthy within 60 s: last state unhealthy (Target.ResponseCodeMismatch: Health checks failed with these codes: [502])",
    );
    expect(clock.elapsed()).toBe(60_000);
    expect(elb.commandCalls(DescribeTargetHealthCommand)).toHaveLength(31); // every 2 s, then the last look at the deadline
    expect(elb.commandCalls(RemoveTagsCommand)).toHaveLength(0);
  });
});

describe("AWS target-group membership: throttling and the rest", () => {
  it("throttled calls are retried with backoff and the step still succeeds", async () => {
    elb.on(AddTagsCommand).rejectsOnce(throttled()).resolves({});
    elb.on(DeregisterTargetsCommand).rejectsOnce(throttled()).rejectsOnce(throttled()).resolves({});
    elb.on(DescribeTargetHealthCommand).rejectsOnce(throttled()).resolves(healthOf("unused", "Target.NotRegistered"));
    await membership().hide(web1, hideOptions);
    expect(elb.commandCalls(AddTagsCommand)).toHaveLength(2);
    expect(elb.commandCalls(DeregisterTargetsCommand)).toHaveLength(3);
    expect(elb.commandCalls(DescribeTargetHealthCommand)).toHaveLength(2);
    expect(clock.elapsed()).toBe(250 + 250 + 500 + 250); // backoff doubles per call, restarts for the next call
  });

  it("throttling that never stops fails within the bound, saying so", async () => {
    elb.on(RegisterTargetsCommand).rejects(throttled());
    await expect(membership().putBack(web1, { was: "ready", checked: true })).rejects.toThrow(
      "registering web1 (target i-0aaa:8080 of prod-web) failed: AWS kept throttling the calls (ThrottlingException) until the deadline; run `pulumi up` again later",
    );
    expect(clock.elapsed()).toBeLessThanOrEqual(60_000);
    expect(elb.commandCalls(RegisterTargetsCommand).length).toBeLessThan(20);
  });

  it("fronts needs the role and a target; membershipFor picks the backend from the context's kind", () => {
    const m = membership();
    expect(m.fronts(web1)).toBe(true);
    expect(m.fronts(host("worker1", ["worker"]))).toBe(false);
    expect(m.fronts(host("web9"))).toBe(false);
    expect(membershipFor(lb, new SshPool())?.fronts(web1)).toBe(true);
    expect(isThrottling(throttled())).toBe(true);
    expect(isThrottling(new Error("x"))).toBe(false);
  });
});

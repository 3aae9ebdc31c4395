// An AWS target group (ALB/NLB) as a load-balancer membership backend: the runner deregisters
// a host's target and waits for draining (hide), registers it and waits until healthy (unhide),
// with the AWS SDK from the deploying machine (lib/runner/membership/aws-target-group.ts).
// Keep the group's deregistration delay low (Cutover's ALB uses 10 s): a hide waits for it.
import * as pulumi from "../../pulumi";
import { LoadBalancerMembership } from "../../components/load-balancer";

export interface AwsTargetGroupMembershipArgs {
  region: pulumi.Input<string>;
  targetGroupArn: pulumi.Input<string>;
  /** Role fronted by the target group. */
  role: string;
  /** Each fronted host's target (instance id, or IP for an `ip` group) and port, by host name. */
  targets: pulumi.Input<Record<string, pulumi.Input<{ id: pulumi.Input<string>; port: pulumi.Input<number> }>>>;
  /** Longest wait for draining; keep it above the group's deregistration delay (default 60). */
  drainSeconds?: number;
  /** Longest wait for the health checks to say healthy after registering (default 120). */
  upSeconds?: number;
}

export function awsTargetGroupMembership(a: AwsTargetGroupMembershipArgs): LoadBalancerMembership {
  return {
    kind: "aws-target-group",
    role: a.role,
    context: pulumi.all([a.region, a.targetGroupArn, pulumi.output(a.targets)]).apply(([region, targetGroupArn, targets]) => ({
      kind: "aws-target-group" as const,
      role: a.role,
      region,
      targetGroupArn,
      targets: targets as Record<string, { id: string; port: number }>,
      drainSeconds: a.drainSeconds ?? 60,
      upSeconds: a.upSeconds ?? 120,
    })),
  };
}

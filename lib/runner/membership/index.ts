/**
 * Load-balancer membership as the runner drives it: hide a host (no new requests, in-flight
 * ones finished) and put it back (ready, and seen healthy by the balancer). One backend per
 * file: HAProxy over its runtime API on the LB host (through the pooled SSH connection), and
 * an AWS target group through the AWS SDK from the deploying machine.
 */
import { HostContext, LoadBalancerContext } from "../context";
import { SshPool } from "../ssh-pool";
import { haproxyMembership } from "./haproxy";
import { awsTargetGroupMembership } from "./aws-target-group";

export interface Membership {
  /** Whether this host sits behind the balancer at all. */
  fronts(host: HostContext): boolean;
  hide(host: HostContext): Promise<void>;
  unhide(host: HostContext): Promise<void>;
  /** True when the balancer sends the host traffic (HAProxy: status UP; AWS: healthy). */
  inRotation(host: HostContext): Promise<boolean>;
}

export function membershipFor(lb: LoadBalancerContext | undefined, pool: SshPool): Membership | undefined {
  if (!lb) return undefined;
  switch (lb.kind) {
    case "haproxy":
      return haproxyMembership(lb, pool);
    case "aws-target-group":
      return awsTargetGroupMembership(lb);
  }
}

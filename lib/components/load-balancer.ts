// What a rollout needs from a load balancer, whatever it is: the role it fronts and a
// description the runner uses to hide a host (no new requests, in-flight ones finished) and
// put it back (ready and seen healthy). The description is resolved at deploy time and never
// an input of a resource, so tuning it re-runs nothing.
import * as pulumi from "../pulumi";
import type { LoadBalancerContext } from "../runner/context";

export interface LoadBalancerMembership {
  kind: LoadBalancerContext["kind"];
  /** The role whose hosts sit behind this balancer. */
  role: string;
  context: pulumi.Output<LoadBalancerContext>;
}

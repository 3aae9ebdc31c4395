// What a rollout needs from a load balancer, whatever it is (HAProxy runtime API, an AWS
// target group): shell steps that take one host out of rotation once its in-flight requests
// are done, and put it back once the balancer sees it healthy.
import { Host } from "./host";

export interface LoadBalancerMembership {
  /** The role whose hosts sit behind this balancer. */
  role: string;
  /** Where the hide/unhide steps run (HAProxy: its own host; AWS: a host with credentials). */
  controller: Host;
  /** Drain the host and wait until it has no requests in flight (bounded). */
  hide(host: Host): string;
  /** Put the host back and wait until the balancer reports it healthy (bounded). */
  unhide(host: Host): string;
}

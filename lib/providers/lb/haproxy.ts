// HAProxy as a load-balancer membership backend, over its runtime API on the LB host. The
// runner sets the host's server to maint and waits for its sessions to end (hide), and later
// puts it back to the state it had (see lib/runner/membership/index.ts for the rules).
import { Host, hostContextOf } from "../../components/host";
import { LoadBalancerMembership } from "../../components/load-balancer";

export interface HaproxyMembershipArgs {
  /** The host HAProxy runs on (reached over SSH like any host). */
  host: Host;
  /** Admin socket path on that host (`stats socket … level admin`). */
  adminSocket: string;
  /** Backend name; servers are named after Cutover's hosts. */
  backend: string;
  /** Role fronted by the backend. */
  role: string;
  /** Longest wait for in-flight requests before the server is forced to maint. */
  drainSeconds?: number;
  /** Longest wait for the health checks to report the server UP again. */
  upSeconds?: number;
  /** Longest wait, before a hide, for enough other servers to be UP (minInRotation; default 120). */
  rotationWaitSeconds?: number;
}

export function haproxyMembership(a: HaproxyMembershipArgs): LoadBalancerMembership {
  return {
    kind: "haproxy",
    role: a.role,
    context: hostContextOf(a.host).apply((host) => ({
      kind: "haproxy" as const,
      role: a.role,
      host,
      adminSocket: a.adminSocket,
      backend: a.backend,
      drainSeconds: a.drainSeconds ?? 30,
      upSeconds: a.upSeconds ?? 30,
      rotationWaitSeconds: a.rotationWaitSeconds ?? 120,
    })),
  };
}

// HAProxy as a load-balancer membership backend, over its runtime API on the LB host.
import { Host } from "../../components/host";
import { LoadBalancerMembership } from "../../components/load-balancer";
import { hideServer, unhideServer } from "../../scripts/haproxy";

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
}

export function haproxyMembership(a: HaproxyMembershipArgs): LoadBalancerMembership {
  const target = (h: Host) => ({ socket: a.adminSocket, backend: a.backend, server: h.name, host: h.name });
  return {
    role: a.role,
    controller: a.host,
    hide: (h) => hideServer({ ...target(h), timeoutSeconds: a.drainSeconds ?? 30 }),
    unhide: (h) => unhideServer({ ...target(h), timeoutSeconds: a.upSeconds ?? 30 }),
  };
}

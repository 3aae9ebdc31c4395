/**
 * Load-balancer membership as the runner drives it: hide a host (no new requests, in-flight
 * ones finished) and put it back (ready, and seen healthy by the balancer). One backend per
 * file would be the next step; HAProxy (over its runtime API on the LB host, through the
 * pooled SSH connection) is the one this machine can run for real.
 */
import { HaproxyContext, HostContext, LoadBalancerContext } from "./context";
import { SshPool } from "./ssh-pool";
import { hideServer, serverState, unhideServer } from "../scripts/haproxy";

export interface Membership {
  /** Whether this host sits behind the balancer at all. */
  fronts(host: HostContext): boolean;
  hide(host: HostContext): Promise<void>;
  unhide(host: HostContext): Promise<void>;
  /** True when the balancer sends the host traffic (HAProxy: status UP). */
  inRotation(host: HostContext): Promise<boolean>;
}

export function membershipFor(lb: LoadBalancerContext | undefined, pool: SshPool): Membership | undefined {
  if (!lb) return undefined;
  return haproxy(lb, pool);
}

function haproxy(lb: HaproxyContext, pool: SshPool): Membership {
  const target = (h: HostContext) => ({ socket: lb.adminSocket, backend: lb.backend, server: h.name, host: h.name });
  const run = async (what: string, h: HostContext, script: string) => {
    const r = await pool.run(lb.host.ssh, script);
    if (r.code !== 0) throw new Error(`${what} ${h.name} on the load balancer (${lb.host.name}) failed: ${r.stderr.trim() || `exit ${r.code}`}`);
    return r.stdout;
  };
  return {
    fronts: (h) => h.roles.includes(lb.role),
    hide: async (h) => void (await run("hiding", h, hideServer({ ...target(h), timeoutSeconds: lb.drainSeconds }))),
    unhide: async (h) => void (await run("putting back", h, unhideServer({ ...target(h), timeoutSeconds: lb.upSeconds, checked: true }))),
    inRotation: async (h) => (await run("reading the state of", h, serverState(target(h)))).trim() === "UP",
  };
}

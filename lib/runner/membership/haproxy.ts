// HAProxy membership: over its runtime API on the LB host, through the pooled SSH connection.
// Hide = maint, wait for the sessions in flight to end; unhide = ready, wait for UP.
import type { Membership } from ".";
import { HaproxyContext, HostContext } from "../context";
import { SshPool } from "../ssh-pool";
import { hideServer, serverState, unhideServer } from "../../scripts/haproxy";

export function haproxyMembership(lb: HaproxyContext, pool: SshPool): Membership {
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

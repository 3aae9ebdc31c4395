// HAProxy membership: over its runtime API on the LB host, through the pooled SSH connection.
// The scripts (lib/scripts/haproxy.ts) keep the markers, the LB lock and the guard on that host.
import { randomBytes } from "node:crypto";
import type { Membership, Rotation } from ".";
import { HaproxyContext, HostContext } from "../context";
import { SshPool } from "../ssh-pool";
import { hideGuarded, moveTraffic, putBackServer, readResponses, readRotation, readSlotServers } from "../../scripts/haproxy";
import type { SlotName } from "../../scripts/standby";

/** Room beyond a script's own bounded waits for the SSH round trips around them. */
const MARGIN_SECONDS = 30;

export function haproxyMembership(lb: HaproxyContext, pool: SshPool): Membership {
  const target = (h: HostContext) => ({ socket: lb.adminSocket, backend: lb.backend, server: h.name, host: h.name });
  const run = async (what: string, h: HostContext, script: string, limitSeconds: number) => {
    const r = await pool.run(lb.host.ssh, script, { limitSeconds });
    if (r.code !== 0) {
      const why = r.stderr.trim() || r.abnormal || `exit ${r.code}`;
      throw new Error(`${what} ${h.name} on the load balancer (${lb.host.name}) failed: ${why}`);
    }
    return r.stdout;
  };
  const serverOf = (h: HostContext, slot: SlotName) => {
    if (slot === "a") return h.name;
    if (!h.standby) throw new Error(`${h.name} has no standby slot: the overlap strategy needs one on every host the load balancer fronts`);
    return h.standby.server;
  };
  return {
    fronts: (h) => h.roles.includes(lb.role),
    guarded: true,
    async responses(h, slot = "a") {
      const out = await run("reading the responses of", h, readResponses({ ...target(h), server: serverOf(h, slot) }), MARGIN_SECONDS);
      const m = /^cutover-responses (\d+) (\d+)$/m.exec(out);
      if (!m) throw new Error(`reading the responses of ${h.name} on the load balancer answered nothing Cutover can read: ${out.trim().slice(0, 200)}`);
      return { total: Number(m[1]), serverErrors: Number(m[2]) };
    },
    slots: {
      async servers(h) {
        const out = await run("reading the slots of", h, readSlotServers({ ...target(h), standby: serverOf(h, "b") }), MARGIN_SECONDS);
        const one = (slot: SlotName) => {
          const m = new RegExp(`^${serverOf(h, slot).replace(/[.]/g, "\\.")} status=(.*) marker=(\\S+)$`, "m").exec(out);
          const status = m?.[1] ?? "";
          return { inRotation: !status.startsWith("MAINT"), admin: status.startsWith("DRAIN") ? "drain" : "ready", ours: (m?.[2] ?? "none") !== "none", status } as const;
        };
        return { a: one("a"), b: one("b") };
      },
      async move(h, o) {
        const script = moveTraffic({
          ...target(h),
          timeoutSeconds: lb.drainSeconds,
          intervalMs: 25,
          to: serverOf(h, o.to),
          from: o.from === undefined ? undefined : serverOf(h, o.from),
          was: o.was,
        });
        await run("moving the traffic of", h, script, lb.drainSeconds + MARGIN_SECONDS);
      },
    },
    async rotation(h): Promise<Rotation> {
      const out = await run("reading the state of", h, readRotation(target(h)), MARGIN_SECONDS);
      const field = (name: string) => new RegExp(`^${name}=(.*)$`, "m").exec(out)?.[1] ?? "";
      const status = field("status");
      const marker = field("marker");
      if (status.startsWith("MAINT")) {
        if (marker === "ready" || marker === "drain") return { kind: "cutover-hidden", was: marker };
        return { kind: "operator-out", detail: `${lb.backend}/${h.name} is ${status} in HAProxy, set by someone other than Cutover` };
      }
      return { kind: "in", admin: status.startsWith("DRAIN") ? "drain" : "ready" };
    },
    async hide(h, o) {
      const script = hideGuarded({
        ...target(h),
        timeoutSeconds: lb.drainSeconds,
        // A request in flight usually ends within milliseconds: look again soon.
        intervalMs: 25,
        was: o.was,
        minInRotation: o.minInRotation,
        minLessOperatorOut: o.minLessOperatorOut,
        rotationWaitSeconds: lb.rotationWaitSeconds,
        leaseSeconds: o.leaseSeconds,
        token: randomBytes(6).toString("hex"),
      });
      await run("hiding", h, script, lb.rotationWaitSeconds + lb.drainSeconds + MARGIN_SECONDS);
    },
    async putBack(h, o) {
      const script = putBackServer({ ...target(h), timeoutSeconds: lb.upSeconds, was: o.was, checked: o.checked });
      await run("putting back", h, script, lb.upSeconds + 60 + MARGIN_SECONDS);
    },
  };
}

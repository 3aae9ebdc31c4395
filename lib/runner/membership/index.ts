/**
 * Load-balancer membership as the runner drives it. One backend per file: HAProxy over its
 * runtime API on the LB host (through the pooled SSH connection), and an AWS target group
 * through the AWS SDK from the deploying machine.
 *
 * The rules every backend keeps:
 * - a host is hidden only after reading how it was, and put back to exactly that;
 * - a server someone else took out (an operator's MAINT, a target deregistered by hand) is
 *   never hidden nor put back by a deploy: it stays out;
 * - a hide leaves a marker saying Cutover did it and what the server was, so a later attempt
 *   (after a killed agent or a dropped connection) knows it may put the server back;
 * - put back "checked" (marked healthy at once) only when the host passed its check in this
 *   very cycle; otherwise the balancer's own health checks decide;
 * - a hide never leaves fewer than `minInRotation` servers of the backend in rotation,
 *   whoever else is deploying: it waits (bounded) or fails saying so.
 */
import { HostContext, LoadBalancerContext } from "../context";
import { SshPool } from "../ssh-pool";
import type { SlotName } from "../../scripts/standby";
import { haproxyMembership } from "./haproxy";
import { awsTargetGroupMembership } from "./aws-target-group";

/** The admin state a hidden server goes back to. */
export type PriorState = "ready" | "drain";

/** What the balancer says of a host before a deploy touches it. */
export type Rotation =
  /** In rotation (HAProxy: ready or drain; AWS: registered): hide, cycle, put back to `admin`. */
  | { kind: "in"; admin: PriorState }
  /** Out of rotation by someone else's hand: left exactly as found. */
  | { kind: "operator-out"; detail: string }
  /** Hidden by an earlier Cutover attempt that did not put it back: put back to `was` when known good. */
  | { kind: "cutover-hidden"; was: PriorState };

export interface HideOptions {
  was: PriorState;
  /** Fewest servers of the backend that must stay in rotation while this one is hidden. */
  minInRotation: number;
  /** The default minInRotation: lowered by servers an operator took out (HAProxy). */
  minLessOperatorOut?: boolean;
  /**
   * After this many seconds without a put-back (the agent died), the balancer side puts the
   * server back on its own, unchecked: its health checks decide when it serves. 0: never.
   */
  leaseSeconds: number;
}

/** One slot's server of an overlap host, as the balancer has it. */
export interface SlotServer {
  /** Taking requests (HAProxy: admin ready or drain, whatever its checks say). */
  inRotation: boolean;
  admin: PriorState;
  /** Out of rotation by Cutover's hand: hidden by a cycle, or the idle slot of an overlap host. */
  ours: boolean;
  status: string;
}

/** What the `overlap` strategy needs of a balancer: a server per slot, and moving traffic between them. */
export interface SlotMembership {
  servers(host: HostContext): Promise<Record<SlotName, SlotServer>>;
  /** `to` takes requests (marked healthy: it just passed its check), then `from` stops taking them and drains. */
  move(host: HostContext, options: { to: SlotName; from?: SlotName; was: PriorState }): Promise<void>;
}

/** Responses a balancer counted for one server since it started (a canary judges the difference). */
export interface ResponseCounts {
  total: number;
  serverErrors: number;
}

export interface Membership {
  /** The responses counted for the host's server (its slot's, for an overlap host); absent where the balancer keeps no such count. */
  responses?(host: HostContext, slot?: SlotName): Promise<ResponseCounts>;
  /** Present where the balancer can front both slots of overlap hosts. */
  readonly slots?: SlotMembership;
  /** Whether this host sits behind the balancer at all. */
  fronts(host: HostContext): boolean;
  /** Whether a hide leaves a guard that readmits the host on its own when its lease ends. */
  readonly guarded: boolean;
  rotation(host: HostContext): Promise<Rotation>;
  hide(host: HostContext, options: HideOptions): Promise<void>;
  /** Back to `was`; marked healthy at once only when `checked`, else the health checks decide. */
  putBack(host: HostContext, options: { was: PriorState; checked: boolean }): Promise<void>;
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

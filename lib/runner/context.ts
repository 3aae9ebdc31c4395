/**
 * What the runner needs to carry out a deploy's steps, handed to the agent by the Pulumi
 * program at the start of each `up` (see register.ts). It is deliberately NOT an input of
 * any resource: who deploys, the lock owner, smoke tuning and connection details must never
 * make Pulumi re-run a host's cycle. Resources carry only what a step means (host, target
 * release, redeploy nonce); this context says how to carry it out, fresh on every `up`.
 */
import type { RolloutBatch } from "../plan";
import type { CanaryPlan } from "./canary";

export interface Endpoint {
  address: string;
  port: number;
  user: string;
  /** Private key text (kept in the agent's memory only). */
  privateKey: string;
  /** Pinned host key, authorized_keys format. */
  hostKey: string;
}

export type HostEndpoint = Endpoint & { gateway?: Endpoint };

export interface HostContext {
  name: string;
  roles: string[];
  root: string;
  restartCommand: string;
  aliveCommand?: string;
  /** Stops the app (the `overlap` strategy stops the slot that served before, once warm time is over). */
  stopCommand?: string;
  app: { address: string; port: number };
  ssh: HostEndpoint;
  /** The host's second service slot, for the `overlap` strategy (see scripts/standby.ts). */
  standby?: StandbySlot;
}

/** A second instance of the app on the same host, on its own port and its own balancer server. */
export interface StandbySlot {
  port: number;
  restartCommand: string;
  stopCommand: string;
  aliveCommand?: string;
  /** Its server's name in the balancer (HAProxy), e.g. `web1-b`. */
  server: string;
}

export interface HaproxyContext {
  kind: "haproxy";
  role: string;
  host: HostContext;
  adminSocket: string;
  backend: string;
  /** Longest wait for in-flight requests before the server is forced to maint. */
  drainSeconds: number;
  /** Longest wait for the health checks to report the server UP again. */
  upSeconds: number;
  /** Longest wait for enough other servers of the backend to be UP before a hide (minInRotation). */
  rotationWaitSeconds: number;
}

/** An AWS (ALB/NLB) target group, driven with the AWS SDK from the deploying machine. */
export interface AwsTargetGroupContext {
  kind: "aws-target-group";
  role: string;
  region: string;
  targetGroupArn: string;
  /** Each fronted host's target: instance id (or IP) and port, by host name. */
  targets: Record<string, { id: string; port: number }>;
  /** Longest wait for deregistration (draining) to finish; keep it above the group's deregistration delay. */
  drainSeconds: number;
  /** Longest wait for a registered target to turn healthy. */
  upSeconds: number;
  /** Seconds between DescribeTargetHealth calls (default 2). */
  pollSeconds?: number;
}

export type LoadBalancerContext = HaproxyContext | AwsTargetGroupContext;

/** How a role proves a switched host works: an HTTP check on the host, a command, or nothing. */
export type RoleCheck =
  | { kind: "http"; path: string; deadlineSeconds: number }
  | { kind: "command"; command: string; deadlineSeconds: number }
  | { kind: "none" };

export interface ReleaseContext {
  id: string;
  /** Absent when the release is targeted by id (a rollback): it must already be prepared. */
  artifact?: { path: string; sha256: string };
}

/** Time limits, in seconds, of everything a deploy runs on a host. */
export interface CommandTimeouts {
  restart: number;
  alive: number;
  checkCommand: number;
  install: number;
  buildHook: number;
  migration: number;
  backup: number;
  upload: number;
}

export interface DeployContext {
  /** `<project>/<stack>/<deployment name>`: which deploy a step belongs to. */
  key: string;
  /**
   * The program's directory: with the key, what the agent keys contexts and connections by,
   * so two checkouts with the same project and stack names never share them.
   */
  checkout: string;
  stack: string;
  deployer: string;
  release: ReleaseContext;
  hosts: HostContext[];
  batches: RolloutBatch[];
  loadBalancer?: LoadBalancerContext;
  checks: Record<string, RoleCheck>;
  prepare: {
    linkedDirs?: string[];
    linkedFiles?: string[];
    installCommand?: string;
    buildHooks?: Record<string, string[]>;
  };
  migration?: { host: string; command: string; backupCommand?: string };
  keepReleases: number;
  restoreCycled: boolean;
  /** Seconds a host must keep passing its check, back in rotation, before the next batch. */
  stableSeconds: number;
  /**
   * cycle: hide, switch and restart in place, put back. overlap: start the new release in the
   * host's idle slot, check it, move traffic to it, keep the old slot warm (overlap.ts).
   */
  strategy: "cycle" | "overlap";
  /** overlap: seconds the slot that served before keeps running (an instant rollback) before it stops. */
  warmSeconds: number;
  /** The first batch holds as a canary and rolls back above this 5xx ratio (runner/canary.ts). */
  canary?: CanaryPlan;
  /** Fewest servers of the balancer's backend kept in rotation while hiding one. */
  minInRotation: number;
  /** minInRotation is the default (hosts − batch), which an operator's MAINT servers lower. */
  minInRotationByDefault: boolean;
  timeouts: CommandTimeouts;
}

export function hostOf(ctx: DeployContext, name: string): HostContext {
  const h = ctx.hosts.find((x) => x.name === name);
  if (!h) throw new Error(`host ${name} is not part of deploy ${ctx.key} (hosts: ${ctx.hosts.map((x) => x.name).join(", ")})`);
  return h;
}

/** The rollout batch a host is in (0: none). */
export function batchOf(ctx: DeployContext, host: string): number {
  return ctx.batches.find((b) => b.hosts.includes(host))?.index ?? 0;
}

export function checkFor(ctx: DeployContext, host: HostContext): RoleCheck {
  for (const role of host.roles) if (ctx.checks[role]) return ctx.checks[role];
  return { kind: "none" };
}

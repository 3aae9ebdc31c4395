/**
 * The order a release reaches the hosts: the load-balanced role's hosts in batches (each
 * batch hidden, switched, smoke-tested and unhidden before the next), then every other host
 * (workers, …), one batch per host, after the web role is done.
 */
import { BatchSize, planBatches } from "./batches";

export interface RolloutHost {
  name: string;
  roles: readonly string[];
}

export interface RolloutBatch {
  /** 1-based, in order. */
  index: number;
  hosts: string[];
  /** Whether these hosts are taken out of the load balancer while they switch. */
  behindLoadBalancer: boolean;
}

/** With `canaryHosts`, the first batch is that many of the balanced hosts (the canary), the rest follow in `batchSize` batches. */
export function planRollout(hosts: readonly RolloutHost[], lbRole: string | undefined, batchSize: BatchSize, canaryHosts?: BatchSize): RolloutBatch[] {
  const fronted = lbRole ? hosts.filter((h) => h.roles.includes(lbRole)).map((h) => h.name) : [];
  const others = hosts.filter((h) => !fronted.includes(h.name)).map((h) => h.name);
  const canary = canaryHosts !== undefined && fronted.length > 0 ? planBatches(fronted, canaryHosts)[0] : [];
  const rest = fronted.filter((h) => !canary.includes(h));
  const lbBatches = [...(canary.length ? [canary] : []), ...(rest.length > 0 ? planBatches(rest, batchSize) : [])];
  const otherBatches = others.length > 0 ? planBatches(others, batchSize) : [];
  return [
    ...lbBatches.map((b) => ({ hosts: b, behindLoadBalancer: true })),
    ...otherBatches.map((b) => ({ hosts: b, behindLoadBalancer: false })),
  ].map((b, i) => ({ index: i + 1, ...b }));
}

/** How the plan reads in a preview: the strategy, and the canary's hold when there is one. */
export interface RolloutStyle {
  strategy: "cycle" | "overlap";
  canary?: { holdSeconds: number; maxErrorRate: number };
}

/** One line per batch, for previews and logs: `batch 1/3 (hidden from the load balancer): web1, web2`. */
export function describeRollout(batches: readonly RolloutBatch[], style: RolloutStyle = { strategy: "cycle" }): string[] {
  const how = style.strategy === "overlap" ? "new release started beside the old one, then traffic moved" : "hidden from the load balancer";
  return batches.map((b) => {
    const canary = b.index === 1 && style.canary && b.behindLoadBalancer
      ? `canary: held ${style.canary.holdSeconds} s, rolled back above ${style.canary.maxErrorRate * 100}% 5xx; `
      : "";
    return `batch ${b.index}/${batches.length}${b.behindLoadBalancer ? ` (${canary}${how})` : ""}: ${b.hosts.join(", ")}`;
  });
}

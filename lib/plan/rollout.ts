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

export function planRollout(hosts: readonly RolloutHost[], lbRole: string | undefined, batchSize: BatchSize): RolloutBatch[] {
  const fronted = lbRole ? hosts.filter((h) => h.roles.includes(lbRole)).map((h) => h.name) : [];
  const others = hosts.filter((h) => !fronted.includes(h.name)).map((h) => h.name);
  const lbBatches = fronted.length > 0 ? planBatches(fronted, batchSize) : [];
  const otherBatches = others.length > 0 ? planBatches(others, batchSize) : [];
  return [
    ...lbBatches.map((b) => ({ hosts: b, behindLoadBalancer: true })),
    ...otherBatches.map((b) => ({ hosts: b, behindLoadBalancer: false })),
  ].map((b, i) => ({ index: i + 1, ...b }));
}

/** One line per batch, for previews and logs: `batch 1/3 (hidden from the LB): web1, web2`. */
export function describeRollout(batches: readonly RolloutBatch[]): string[] {
  return batches.map(
    (b) => `batch ${b.index}/${batches.length}${b.behindLoadBalancer ? " (hidden from the load balancer)" : ""}: ${b.hosts.join(", ")}`,
  );
}

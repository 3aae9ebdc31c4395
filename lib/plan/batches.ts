/**
 * Rolling batches: hosts are cycled through the load balancer a batch at a time, so the
 * batch size is the share of capacity that may be out of rotation at once.
 */
import { CutoverInputError, describeValue } from "./validate";

export type BatchSize = number | `${number}%`;

const BATCH_FIX = "use a host count ≥ 1 or a percentage between 1% and 100%";

/** How many hosts go in one batch for a fleet of `hostCount` hosts. */
export function batchCount(hostCount: number, size: BatchSize, argument = "batchSize"): number {
  if (typeof size === "number") {
    if (!Number.isInteger(size) || size < 1) throw new CutoverInputError(argument, size, BATCH_FIX);
    return size;
  }
  const match = typeof size === "string" ? /^(\d{1,3})%$/.exec(size) : null;
  const percent = match ? Number(match[1]) : NaN;
  if (!(percent >= 1 && percent <= 100)) throw new CutoverInputError(argument, size, BATCH_FIX);
  // Rounds up: "25%" of 10 hosts is 3 per batch, never 2 (which would need 5 batches), and a
  // small percentage of a small fleet still moves at least one host per batch.
  return Math.max(1, Math.ceil((hostCount * percent) / 100));
}

/**
 * Splits `hosts` into consecutive batches of at most `size` hosts, order preserved.
 * An empty fleet gives no batches. A host listed twice is an error (it would be activated twice).
 */
export function planBatches(hosts: readonly string[], size: BatchSize): string[][] {
  const seen = new Set<string>();
  for (const host of hosts) {
    if (seen.has(host)) {
      throw new CutoverInputError("hosts", [...hosts], `${describeValue(host)} is listed twice; list each host once`);
    }
    seen.add(host);
  }
  const perBatch = batchCount(hosts.length, size);
  const batches: string[][] = [];
  for (let i = 0; i < hosts.length; i += perBatch) batches.push(hosts.slice(i, i + perBatch));
  return batches;
}

// The plan layer: pure decisions (batches, release ids, prune, argument checks). No I/O,
// no Pulumi, so every rule here is testable with plain values and property tests.
export * from "./validate";
export * from "./release-id";
export * from "./batches";
export * from "./prune";
export * from "./rollout";
export * from "./known-keys";

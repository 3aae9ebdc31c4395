/**
 * The parts of @pulumi/pulumi that Cutover uses, loaded from their own modules rather than the
 * package's index. The index also loads closure serialization (the TypeScript compiler and
 * npm's arborist, ~0.7 s) and the Automation API. That time was part of every `up` and
 * `preview` of a Cutover stack, whose program serializes no functions.
 */
export { ComponentResource, CustomResource, mergeOptions } from "@pulumi/pulumi/resource";
export type { ComponentResourceOptions, CustomResourceOptions, Resource } from "@pulumi/pulumi/resource";
export { Output, all, interpolate, output, secret, unsecret } from "@pulumi/pulumi/output";
export type { Input, Inputs } from "@pulumi/pulumi/output";
export { Config } from "@pulumi/pulumi/config";
export { getProject, getStack } from "@pulumi/pulumi/metadata";
export { StackReference } from "@pulumi/pulumi/stackReference";
export { isDryRun } from "@pulumi/pulumi/runtime/settings";
// A RunError is printed by the language host as its message alone (no stack, no inspect
// dump): how the stack program reports bad input, as Pulumi reports its own.
export { RunError } from "@pulumi/pulumi/errors";
export { allConfig } from "@pulumi/pulumi/runtime/config";

// Cutover's public API: components, providers, and the pure planning and script layers.
export { Host, SshEndpoint, connectionOf } from "./components/host";
export { Deployment, DeploymentArgs, MigrationSpec } from "./components/deployment";
export { ReleaseDirectory, ArtifactRef, PrepareSpec } from "./components/release-directory";
export { Rollout, RolloutArgs, SmokeSpec } from "./components/rollout";
export { LoadBalancerMembership } from "./components/load-balancer";
export { haproxyMembership, HaproxyMembershipArgs } from "./providers/lb/haproxy";
export * from "./providers/hosts/local-fleet";
export * from "./artifact";
export * as plan from "./plan";
export * as scripts from "./scripts";

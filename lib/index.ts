// Cutover's public API: components, providers, and the pure planning and script layers.
export { Host, SshEndpoint, connectionOf } from "./components/host";
export {
  Deployment,
  DeploymentArgs,
  MigrationSpec,
  ArtifactRef,
  PrepareSpec,
  SmokeSpec,
  RoleCheckSpec,
} from "./components/deployment";
export { ReleaseDirectory } from "./components/release-directory";
export { HostCycle } from "./components/host-cycle";
export { LoadBalancerMembership } from "./components/load-balancer";
export { haproxyMembership, HaproxyMembershipArgs } from "./providers/lb/haproxy";
export * from "./providers/hosts/local-fleet";
export * from "./artifact";
export * as plan from "./plan";
export * as scripts from "./scripts";

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
  DEFAULT_TIMEOUTS,
} from "./components/deployment";
export type { CommandTimeouts } from "./runner/context";
export { ReleaseDirectory } from "./components/release-directory";
export { HostCycle } from "./components/host-cycle";
export { LoadBalancerMembership } from "./components/load-balancer";
export { haproxyMembership, HaproxyMembershipArgs } from "./providers/lb/haproxy";
export { awsTargetGroupMembership, AwsTargetGroupMembershipArgs } from "./providers/lb/aws-target-group";
export { parseInventory, publishInventory, Inventory, InventorySpec, InventoryHostSpec, InventoryServiceSpec } from "./providers/hosts/inventory";
export { Ec2Fleet, Ec2FleetArgs, Ec2HostSpec, Ec2SubnetSpec, planEc2Hosts } from "./providers/hosts/ec2";
export * from "./providers/hosts/local-fleet";
export * from "./artifact";
export * as plan from "./plan";
export * as scripts from "./scripts";

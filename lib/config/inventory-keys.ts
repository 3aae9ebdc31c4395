// Every key of the `cutover:inventory` (existing servers) and `cutover:aws` (EC2) blocks, so a
// misspelt one (`hostkey`, `adminsocket`, `instance_type`) is refused with the key it was meant
// to be instead of being ignored. Typed against the library's specs, as app-config.ts does.
import type { KeyShape } from "../plan";
import type { InventoryEndpointSpec, InventoryHostSpec, InventorySpec, InventoryStandbySpec } from "../providers/hosts/inventory";
import type { Ec2FleetArgs, Ec2HostSpec, Ec2SubnetSpec } from "../providers/hosts/ec2";
import type { Keys } from "./app-config";

const endpointKeys: Keys<InventoryEndpointSpec>["keys"] = { address: "any", port: "any", user: "any", hostKey: "any", gateway: "any" };
// One of three shapes (systemd, supervisord, or commands): every key any of them has.
const serviceKeys: KeyShape = {
  keys: { systemd: { keys: { name: "any" } }, supervisord: { keys: { conf: "any", name: "any" } }, restartCommand: "any", aliveCommand: "any", stopCommand: "any" },
};
const standbyKeys: Keys<InventoryStandbySpec> = { keys: { appPort: "any", service: serviceKeys, server: "any" } };
const hostKeys: Keys<InventoryHostSpec> = {
  keys: { ...endpointKeys, name: "any", roles: "any", root: "any", appAddress: "any", appPort: "any", service: serviceKeys, standby: standbyKeys },
};
type Haproxy = NonNullable<InventorySpec["loadBalancer"]>["haproxy"];
const haproxyKeys: Keys<Haproxy> = { keys: { ...endpointKeys, host: "any", name: "any", adminSocket: "any", backend: "any", role: "any", url: "any" } };

export const INVENTORY_CONFIG_KEYS: Keys<InventorySpec> = {
  keys: {
    user: "any",
    root: "any",
    appPort: "any",
    service: serviceKeys,
    standby: standbyKeys,
    gateways: { each: { keys: endpointKeys } },
    hosts: { each: hostKeys },
    loadBalancer: { keys: { haproxy: haproxyKeys } },
  },
};

/** `cutover:inventory: { fromStack }`: the inventory is another stack's output, nothing beside it. */
export const INVENTORY_FROM_STACK_KEYS: KeyShape = { keys: { fromStack: "any" } };

/** `cutover:aws`: Ec2FleetArgs but what comes from elsewhere (aws:region, the secrets). */
type AwsConfig = Omit<Ec2FleetArgs, "region" | "privateKey" | "app"> & { app: Omit<Ec2FleetArgs["app"], "environment"> };
export const AWS_CONFIG_KEYS: Keys<AwsConfig> = {
  keys: {
    vpcId: "any",
    privateSubnets: { each: { keys: { id: "any", cidr: "any" } satisfies Keys<Ec2SubnetSpec>["keys"] } },
    publicSubnets: "any",
    ami: "any",
    instanceType: "any",
    hosts: { each: { keys: { name: "any", roles: "any", instanceType: "any" } satisfies Keys<Ec2HostSpec>["keys"] } },
    sshFrom: "any",
    deployUser: "any",
    deployPublicKey: "any",
    app: { keys: { name: "any", command: "any", user: "any", root: "any", port: "any" } },
    lbRole: "any",
    healthPath: "any",
    deregistrationDelaySeconds: "any",
  },
};

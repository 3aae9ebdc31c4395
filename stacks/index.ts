// The one entry program for every Cutover stack; the only place that reads pulumi.Config.
import * as path from "node:path";
import * as pulumi from "../lib/pulumi";
// From their modules, not the library's index: the index also loads @pulumi/aws (EC2), which
// takes about half a second of every `up` and `preview`, and only prod needs it (awsTarget).
import { Host } from "../lib/components/host";
import { Deployment } from "../lib/components/deployment";
import { LoadBalancerMembership } from "../lib/components/load-balancer";
import { haproxyMembership } from "../lib/providers/lb/haproxy";
import { InventorySpec, parseInventory, publishInventory } from "../lib/providers/hosts/inventory";
import { LocalFleet, localFleetSpec, planFleet } from "../lib/providers/hosts/local-fleet";
import { buildArtifact } from "../lib/artifact";
import type { Ec2FleetArgs } from "../lib/providers/hosts/ec2";
import { validateRollout } from "../lib/components/validate-deployment";
import { CutoverInputError } from "../lib/plan";
import { AppConfig, appConfigKey, artifactDir, checkAppConfig, deploymentSettings, resolveSource } from "../lib/config/app-config";
import { projectDir } from "./project-dir";
import { FleetConfig, fleetConfigKey } from "./fleet-config";
import { checkStackConfig } from "./stack-config";
import { asRefusal, refusingBadInput, stackOutput } from "./refusal";
import { sshAccess } from "./ssh-access";
import { readSecretsSettings, requireSecretsProtection } from "../lib/engine/passphrase-policy";
import { skipUnreadPromiseStacks } from "../lib/engine/promise-stacks";

// Before any resource: the SDK's per-promise stacks cost ~0.7 s of CPU per run at 160 resources.
skipUnreadPromiseStacks();

const config = new pulumi.Config("cutover");
const provider = config.get("provider") ?? "local";
// Only local stacks may keep their secrets under the published development passphrase.
requireSecretsProtection(pulumi.getStack(), provider, process.env, readSecretsSettings(process.cwd(), pulumi.getStack()));
const PROVIDERS = ["local", "ssh", "aws"];

// Bad input is refused here, before any resource exists (the fleet's included), in one line
// that names the config key as written, the value and the fix.
refusingBadInput(() => {
  checkStackConfig(pulumi.allConfig());
  if (!PROVIDERS.includes(provider)) {
    throw new CutoverInputError("cutover:provider", provider, 'use "local" (the embedded fleet), "ssh" (existing servers, cutover:inventory) or "aws" (cutover:aws)');
  }
});
const stack = pulumi.getStack();
const app = config.getObject<AppConfig>("app");
if (app) refusingBadInput(() => checkAppConfig(app, stack, projectDir), appConfigKey);
const hiding = app?.rollout?.hideFromLoadBalancer !== false;

// dev's fleet: its layout, and the rollout over its hosts (a batch that would empty the
// balancer, a role no host has), are checked from the config before the fleet exists.
const fleetName = config.get("fleetName") ?? stack;
const fleetConfig = provider === "local" ? config.requireObject<FleetConfig>("fleet") : undefined;
if (fleetConfig) {
  const spec = localFleetSpec(fleetName, fleetConfig);
  refusingBadInput(() => planFleet(spec), fleetConfigKey);
  if (app) {
    const rollout = { ...deploymentSettings(app, stack), hosts: spec.hosts, loadBalancerRole: hiding ? spec.lbRole : undefined };
    refusingBadInput(() => validateRollout(rollout), appConfigKey);
  }
}

function localFleet() {
  const { appEnvironment, ...fleet } = fleetConfig!;
  return new LocalFleet(fleetName, {
    ...fleet,
    service: {
      name: "app",
      // The sample app is plain Node.js; run it with the same Node that runs Pulumi.
      command: [process.execPath, "server.js"],
      environment: { NODE_ENV: "production", ...(appEnvironment ?? {}) },
    },
  });
}

/** The `hosts` output, the same for every target: where each app listens, its root, its standby slot. */
const hostsOutput = (hosts: Host[]) =>
  hosts.map((h) => ({ name: h.name, roles: h.roles, address: h.app.address, port: h.app.port, root: h.root, ...(h.standby ? { standby: { port: h.standby.port, server: h.standby.server } } : {}) }));

/** Where a stack deploys: its hosts, the balancer in front of them, and outputs describing them. */
interface Target {
  hosts: Host[];
  loadBalancer?: LoadBalancerMembership;
  outputs: Record<string, unknown>;
}

// dev: the embedded local fleet. It also publishes its `inventory` (and `deployKey`, a secret)
// so that a separate app stack can deploy to it with `cutover:provider: ssh` (fleet stack and
// app stack apart, as teams split them).
function localTarget(): Target {
  const fleet = localFleet();
  // How to reach the fleet by hand (or from tests): pinned host keys, and the deploy key as a
  // secret (`pulumi stack output --show-secrets deployKey`).
  const endpoint = (h: Host) => ({ address: h.ssh.address, port: h.ssh.port, hostKey: h.ssh.hostKey });
  return {
    hosts: fleet.hosts,
    loadBalancer: haproxyMembership({
      host: fleet.loadBalancer.host,
      adminSocket: fleet.loadBalancer.adminSocket,
      backend: fleet.loadBalancer.backend,
      role: fleet.loadBalancer.backend,
    }),
    outputs: {
      lbUrl: fleet.loadBalancer.url,
      gateway: `${fleet.gateway.ssh.address}:${fleet.gateway.ssh.port}`,
      hosts: hostsOutput(fleet.hosts),
      reachable: fleet.reachable,
      ssh: {
        user: fleet.gateway.ssh.user,
        gateway: endpoint(fleet.gateway),
        hosts: Object.fromEntries([...fleet.hosts, fleet.loadBalancer.host].map((h) => [h.name, endpoint(h)])),
      },
      deployKey: pulumi.secret(fleet.gateway.ssh.privateKey),
      inventory: publishInventory({ hosts: fleet.hosts, gateways: { gateway: fleet.gateway }, loadBalancer: fleet.loadBalancer }),
    },
  };
}

// Existing servers: the inventory in `cutover:inventory`, with the deploy key in the secret
// `cutover:sshPrivateKey` — or `cutover:inventory: { fromStack: <org/project/stack> }`: the
// `inventory` and `deployKey` outputs of that stack, read through a StackReference.
async function sshTarget(): Promise<Target> {
  const spec = config.requireObject<InventorySpec & { fromStack?: string }>("inventory");
  let inventory: InventorySpec = spec;
  let privateKey: pulumi.Output<string>;
  if (spec.fromStack) {
    const ref = new pulumi.StackReference("fleet", { name: spec.fromStack });
    const published = await ref.getOutputDetails("inventory");
    inventory = (published.value ?? published.secretValue) as InventorySpec;
    if (!inventory) throw new Error(`stack ${spec.fromStack} has no output "inventory": run \`pulumi up\` on it first (a fleet stack publishes it)`);
    privateKey = pulumi.secret(ref.requireOutput("deployKey") as pulumi.Output<string>);
  } else {
    privateKey = config.requireSecret("sshPrivateKey");
  }
  const parsed = parseInventory(inventory, privateKey, "cutover:inventory");
  const lb = parsed.loadBalancer;
  return {
    hosts: parsed.hosts,
    loadBalancer: lb && haproxyMembership({ host: lb.host, adminSocket: lb.adminSocket, backend: lb.backend, role: lb.role }),
    outputs: {
      lbUrl: lb?.url,
      hosts: hostsOutput(parsed.hosts),
      ssh: sshAccess(lb && !parsed.hosts.includes(lb.host) ? [...parsed.hosts, lb.host] : parsed.hosts),
      deployKey: privateKey,
      loadBalancer: lb && { host: lb.host.name, adminSocket: lb.adminSocket, backend: lb.backend },
    },
  };
}

// prod: EC2 hosts behind an ALB target group, reached through a bastion (`cutover:aws`, the
// deploy key in the secret `cutover:sshPrivateKey`, the app's environment in the secret
// `cutover:appEnvironment`).
function awsTarget(): Target {
  const region = new pulumi.Config("aws").require("region");
  const spec = config.requireObject<Omit<Ec2FleetArgs, "region" | "privateKey" | "app"> & { app: Omit<Ec2FleetArgs["app"], "environment"> }>("aws");
  const environment = config.getSecret("appEnvironment");
  // Loaded only here (see the imports above).
  const { Ec2Fleet } = require("../lib/providers/hosts/ec2") as typeof import("../lib/providers/hosts/ec2");
  const fleet = new Ec2Fleet(pulumi.getStack(), {
    ...spec,
    region,
    privateKey: config.requireSecret("sshPrivateKey"),
    app: { ...spec.app, ...(environment ? { environment } : {}) },
  });
  return {
    hosts: fleet.hosts,
    loadBalancer: fleet.loadBalancer,
    outputs: {
      lbUrl: fleet.lbUrl,
      gateway: pulumi.interpolate`${fleet.bastion.ssh.address}:22`,
      hosts: hostsOutput(fleet.hosts),
      targetGroupArn: fleet.targetGroupArn,
      ssh: sshAccess(fleet.hosts),
      deployKey: config.requireSecret("sshPrivateKey"),
    },
  };
}

// A refusal found while the hosts are read (cutover:inventory, a StackReference) is one line too.
const target: Promise<Target> = (async () => (provider === "local" ? localTarget() : provider === "ssh" ? await sshTarget() : awsTarget()))().catch(
  (e: unknown) => Promise.reject(asRefusal(e)),
);

// Where the user wrote the hosts a Deployment argument `hosts[…]` names.
const hostsKey = { local: "cutover:fleet.hosts", ssh: "cutover:inventory.hosts", aws: "cutover:aws.hosts" }[provider];
const deploymentConfigKey = (argument: string) => appConfigKey(argument) ?? (argument.startsWith("hosts") && hostsKey ? hostsKey + argument.slice("hosts".length) : undefined);

// The checks that need the hosts run again in the Deployment (for ssh and aws stacks, the first
// time): their refusal is reported the same way.
const deployment = target.then((fleet) =>
  app
    ? refusingBadInput(
        () =>
          new Deployment("app", {
            ...deploymentSettings(app, stack),
            hosts: fleet.hosts,
            ...(app.release ? {} : { artifact: buildArtifact({ sourceDir: resolveSource(app, projectDir), versionLabel: app.version, outDir: artifactDir() }) }),
            loadBalancer: hiding ? fleet.loadBalancer : undefined,
          }),
        deploymentConfigKey,
      )
    : undefined,
);

const output = (name: string) => stackOutput(target.then((t) => t.outputs[name]));
export const releaseId = stackOutput(deployment.then((d) => d?.releaseId));
export const rolloutPlan = stackOutput(deployment.then((d) => d?.rolloutPlan));
export const lbUrl = output("lbUrl");
export const gateway = output("gateway");
export const hosts = output("hosts");
export const reachable = output("reachable");
export const sampleApp = path.resolve(__dirname, "..", "..", "stacks", "sample-app");
export const ssh = output("ssh");
export const deployKey = output("deployKey");
export const inventory = output("inventory");
export const loadBalancer = output("loadBalancer");
export const targetGroupArn = output("targetGroupArn");

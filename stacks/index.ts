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
import { LocalFleet, LocalFleetHostSpec } from "../lib/providers/hosts/local-fleet";
import { buildArtifact } from "../lib/artifact";
import type { Ec2FleetArgs } from "../lib/providers/hosts/ec2";
import { AppConfig, artifactDir, deployerName, resolveSource } from "./app-config";
import { readSecretsSettings, requireSecretsProtection } from "../lib/engine/passphrase-policy";
import { skipUnreadPromiseStacks } from "../lib/engine/promise-stacks";

// Before any resource: the SDK's per-promise stacks cost ~0.7 s of CPU per run at 160 resources.
skipUnreadPromiseStacks();

interface FleetConfig {
  subnet?: string;
  sshPort?: number;
  appPort?: number;
  lbPort?: number;
  baseDir?: string;
  hosts: LocalFleetHostSpec[];
  /** Extra environment for the app on every host (e.g. START_DELAY_MS to model a slow boot). */
  appEnvironment?: Record<string, string>;
  /** Every sshd keeps OpenSSH's stock MaxStartups/MaxSessions, as on a real server. */
  stockSshdLimits?: boolean;
  /** A standby slot per host (rollout.strategy "overlap" deploys through it). */
  standby?: boolean;
}

const config = new pulumi.Config("cutover");
const provider = config.get("provider") ?? "local";
// Only local stacks may keep their secrets under the published development passphrase.
requireSecretsProtection(pulumi.getStack(), provider, process.env, readSecretsSettings(process.cwd(), pulumi.getStack()));

function localFleet() {
  const { appEnvironment, ...fleetConfig } = config.requireObject<FleetConfig>("fleet");
  return new LocalFleet(config.get("fleetName") ?? pulumi.getStack(), {
    ...fleetConfig,
    service: {
      name: "app",
      // The sample app is plain Node.js; run it with the same Node that runs Pulumi.
      command: [process.execPath, "server.js"],
      environment: { NODE_ENV: "production", ...(appEnvironment ?? {}) },
    },
  });
}

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
      hosts: fleet.hosts.map((h) => ({ name: h.name, roles: h.roles, address: h.app.address, root: h.root })),
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
      hosts: parsed.hosts.map((h) => ({ name: h.name, roles: h.roles, address: h.app.address, root: h.root })),
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
      hosts: fleet.hosts.map((h) => ({ name: h.name, roles: h.roles, address: h.app.address, root: h.root })),
      targetGroupArn: fleet.targetGroupArn,
    },
  };
}

const target: Promise<Target> =
  provider === "local"
    ? Promise.resolve(localTarget())
    : provider === "ssh"
      ? sshTarget()
      : provider === "aws"
        ? Promise.resolve(awsTarget())
        : Promise.reject(
          new Error(
            `cutover:provider "${provider}" is not known: use "local" (the embedded fleet), "ssh" (existing servers, cutover:inventory) or "aws" (cutover:aws)`,
          ),
        );

const app = config.getObject<AppConfig>("app");
const deployment = target.then((fleet) =>
  app
    ? new Deployment("app", {
        hosts: fleet.hosts,
        ...(app.release
          ? { releaseId: app.release }
          : { artifact: buildArtifact({ sourceDir: resolveSource(app), versionLabel: app.version, outDir: artifactDir() }) }),
        redeploy: app.redeploy,
        prepare: app.prepare,
        migration: app.migration,
        keepReleases: app.keepReleases,
        deployer: deployerName(app),
        stack: pulumi.getStack(),
        loadBalancer: app.rollout?.hideFromLoadBalancer === false ? undefined : fleet.loadBalancer,
        batchSize: app.rollout?.batchSize,
        smoke: app.rollout?.smoke ?? { path: "/healthz" },
        checks: app.rollout?.checks,
        restoreCycled: app.rollout?.restoreCycled,
        stableSeconds: app.rollout?.stableSeconds,
        strategy: app.rollout?.strategy,
        warmSeconds: app.rollout?.warmSeconds,
        minInRotation: app.rollout?.minInRotation,
        timeouts: app.timeouts,
      })
    : undefined,
);

const output = (name: string) => target.then((t) => t.outputs[name]);
export const releaseId = deployment.then((d) => d?.releaseId);
export const rolloutPlan = deployment.then((d) => d?.rolloutPlan);
export const lbUrl = output("lbUrl");
export const gateway = output("gateway");
export const hosts = output("hosts");
export const reachable = output("reachable");
export const sampleApp = path.resolve(__dirname, "..", "..", "stacks", "sample-app");
export const ssh = output("ssh");
export const deployKey = output("deployKey");
export const inventory = output("inventory");

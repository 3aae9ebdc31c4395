// The one entry program for every Cutover stack; the only place that reads pulumi.Config.
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { Deployment, Host, LocalFleet, LocalFleetHostSpec, buildArtifact, haproxyMembership } from "../lib";
import { AppConfig, artifactDir, deployerName, resolveSource } from "./app-config";
import { readSecretsSettings, requireSecretsProtection } from "../lib/engine/passphrase-policy";

interface FleetConfig {
  subnet?: string;
  sshPort?: number;
  appPort?: number;
  lbPort?: number;
  baseDir?: string;
  hosts: LocalFleetHostSpec[];
  /** Extra environment for the app on every host (e.g. START_DELAY_MS to model a slow boot). */
  appEnvironment?: Record<string, string>;
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

if (provider !== "local") {
  throw new Error(
    `cutover:provider "${provider}" is not available yet: only "local" (the embedded fleet) is implemented; ` +
      "set `pulumi config set cutover:provider local` or use the dev stack",
  );
}
const fleet = localFleet();

const app = config.getObject<AppConfig>("app");
const deployment = app
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
      loadBalancer:
        app.rollout?.hideFromLoadBalancer === false
          ? undefined
          : haproxyMembership({
              host: fleet.loadBalancer.host,
              adminSocket: fleet.loadBalancer.adminSocket,
              backend: fleet.loadBalancer.backend,
              role: fleet.loadBalancer.backend,
            }),
      batchSize: app.rollout?.batchSize,
      smoke: app.rollout?.smoke ?? { path: "/healthz" },
      checks: app.rollout?.checks,
      restoreCycled: app.rollout?.restoreCycled,
    })
  : undefined;

export const releaseId = deployment?.releaseId;
export const rolloutPlan = deployment?.rolloutPlan;
export const lbUrl = fleet.loadBalancer.url;
export const gateway = `${fleet.gateway.ssh.address}:${fleet.gateway.ssh.port}`;
export const hosts = fleet.hosts.map((h) => ({ name: h.name, roles: h.roles, address: h.app.address, root: h.root }));
export const reachable = fleet.reachable;
export const sampleApp = path.resolve(__dirname, "..", "..", "stacks", "sample-app");
// How to reach the fleet by hand (or from tests): pinned host keys, and the deploy key as a
// secret (`pulumi stack output --show-secrets deployKey`).
const endpoint = (h: Host) => ({ address: h.ssh.address, port: h.ssh.port, hostKey: h.ssh.hostKey });
export const ssh = {
  user: fleet.gateway.ssh.user,
  gateway: endpoint(fleet.gateway),
  hosts: Object.fromEntries([...fleet.hosts, fleet.loadBalancer.host].map((h) => [h.name, endpoint(h)])),
};
export const deployKey = pulumi.secret(fleet.gateway.ssh.privateKey);

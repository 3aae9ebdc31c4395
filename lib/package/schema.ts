// The Pulumi package schema of the `cutover` plugin: the multi-language Deployment component
// (deployment.ts). Its object types say the same keys as the TypeScript specs (AppConfig,
// InventorySpec); schema.test.ts holds them to the key lists that refuse a misspelt key.

import type { CommandTimeouts } from "../runner/context";

export const DEPLOYMENT_TYPE = "cutover:index:Deployment";

type Property = Record<string, unknown>;
const str = (description: string): Property => ({ type: "string", description });
const int = (description: string): Property => ({ type: "integer", description });
const num = (description: string): Property => ({ type: "number", description });
const bool = (description: string): Property => ({ type: "boolean", description });
const strings = (description: string): Property => ({ type: "array", items: { type: "string" }, description });
const ref = (type: string, description: string): Property => ({ $ref: `#/types/cutover:index:${type}`, description });
/** A count or a percentage of hosts: 2, or "25%". */
const countOrPercent = (description: string): Property => ({ oneOf: [{ type: "integer" }, { type: "string" }], description });

const object = (description: string, properties: Record<string, Property>, required: string[] = []) => ({
  type: "object",
  description,
  properties,
  ...(required.length ? { required } : {}),
});

const endpoint: Record<string, Property> = {
  address: str("IP address or DNS name."),
  port: int("SSH port (default 22)."),
  user: str("SSH user (default: the inventory's user)."),
  hostKey: str('The server\'s public host key, authorized_keys format ("ssh-ed25519 AAAA…"): never unpinned.'),
  gateway: str("Name of an entry of the inventory's gateways to reach it through."),
};

const types = {
  Endpoint: object("An SSH endpoint with its pinned host key.", endpoint, ["address", "hostKey"]),
  Service: object("How the app is restarted and stopped: systemd, supervisord, or commands.", {
    systemd: ref("SystemdUnit", "A systemd unit, restarted through sudo."),
    supervisord: ref("SupervisordProgram", "A supervisord program."),
    restartCommand: str("Restarts the app."),
    aliveCommand: str("Fails once the app has died."),
    stopCommand: str("Stops the app (an overlap slot after its warm time)."),
  }),
  SystemdUnit: object("A systemd unit.", { name: str("Unit name.") }, ["name"]),
  SupervisordProgram: object("A supervisord program.", { conf: str("supervisord.conf path."), name: str("Program name.") }, ["conf", "name"]),
  Standby: object("A host's second slot of the app (the overlap strategy).", {
    appPort: int("The slot's port."),
    service: ref("Service", "The slot's service."),
    server: str("Its server in the HAProxy backend (default <host>-b)."),
  }, ["appPort", "service"]),
  InventoryHost: object("One existing server.", {
    ...endpoint,
    name: str("Host name: also its HAProxy server name."),
    roles: strings("Roles, e.g. web."),
    root: str("Deploy root (default: the inventory's root)."),
    appAddress: str("Where the app listens (default: address)."),
    appPort: int("The app's port (default: the inventory's appPort)."),
    service: ref("Service", "Default: the inventory's service."),
    standby: ref("Standby", "Default: the inventory's standby."),
  }, ["name", "roles", "address", "hostKey"]),
  Haproxy: object("An existing HAProxy whose backend servers are named after the hosts.", {
    ...endpoint,
    host: str("Name of the host (of hosts) it runs on, instead of its own endpoint."),
    name: str('Host name in messages (default "lb").'),
    adminSocket: str("Its runtime API socket."),
    backend: str("The backend of the hosts."),
    role: str("Role fronted by the backend (default: the backend's name)."),
    url: str("Where clients reach it (outputs only)."),
  }, ["adminSocket", "backend"]),
  LoadBalancer: object("The balancer in front of the hosts.", { haproxy: ref("Haproxy", "An existing HAProxy.") }, ["haproxy"]),
  Inventory: object("Existing servers and their balancer, as data: a fleet stack publishes this as its inventory output.", {
    user: str("Default SSH user (the deploy account)."),
    root: str("Default deploy root."),
    appPort: int("Default app port."),
    service: ref("Service", "Every host's service, unless a host gives its own."),
    standby: ref("Standby", "Every host's standby slot, unless a host gives its own."),
    gateways: { type: "object", additionalProperties: ref("Endpoint", ""), description: "SSH gateways by name." },
    hosts: { type: "array", items: ref("InventoryHost", ""), description: "The hosts." },
    loadBalancer: ref("LoadBalancer", "The balancer in front of them."),
  }, ["hosts"]),
  Prepare: object("How a release is prepared on each host.", {
    linkedDirs: strings("Directories of shared/ linked into each release."),
    linkedFiles: strings("Files of shared/ linked into each release."),
    installCommand: str("Runs in the release after unpacking."),
    buildHooks: { type: "object", additionalProperties: { type: "array", items: { type: "string" } }, description: "Extra commands by role." },
  }),
  Migration: object("A run-once migration.", {
    host: str("The host that runs it (keep it stable)."),
    command: str("The migration."),
    backupCommand: str("Runs first; a failing backup stops the migration."),
  }, ["host", "command"]),
  Smoke: object("The HTTP smoke test of a switched host.", {
    path: str("GET path that must answer 2xx/3xx with the release id."),
    deadlineSeconds: num("How long a switched host may take to pass (default 30)."),
    roles: strings("Roles smoke-tested over HTTP (default: the balanced role)."),
  }, ["path"]),
  Check: object('A role\'s own check: a command run in the release that must exit 0.', {
    command: str("The check."),
    deadlineSeconds: num("How long it may take to pass."),
  }, ["command"]),
  Canary: object("The first batch holds as a canary.", {
    hosts: countOrPercent('Canary hosts: 1 or "10%".'),
    holdSeconds: num("How long the canary holds."),
    maxErrorRate: num("Highest 5xx ratio (0–1) the canary may answer."),
  }, ["maxErrorRate"]),
  Rollout: object("How hosts are cycled.", {
    batchSize: countOrPercent('Hosts per batch: 2 or "25%" (default 1).'),
    smoke: ref("Smoke", "The HTTP smoke test (default GET /healthz)."),
    checks: { type: "object", additionalProperties: ref("Check", ""), description: "Checks of roles the smoke test does not cover." },
    restoreCycled: bool("A failure switches the earlier batches back too."),
    hideFromLoadBalancer: bool("false: switch hosts in place without hiding them."),
    stableSeconds: num("Seconds a host keeps passing its check before the next batch (default 3)."),
    strategy: str('"cycle" (default) or "overlap" (hosts with standby slots).'),
    warmSeconds: num("overlap: seconds the previous slot stays warm (default 300)."),
    canary: ref("Canary", "Hold the first batch and roll it back on errors."),
    minInRotation: int("Fewest servers of the backend kept in rotation."),
  }),
  App: object("What to deploy and how: the keys of a TypeScript stack's cutover:app block.", {
    source: str("The app's directory, relative to the project's directory or absolute."),
    version: str("Version label: part of the release id."),
    release: str("Go to a release already on every host, by id (a rollback)."),
    redeploy: str("Change it to cycle every host again for the same release."),
    prepare: ref("Prepare", "How a release is prepared."),
    migration: ref("Migration", "A run-once migration."),
    keepReleases: int("Releases kept on each host (default 5)."),
    deployer: str("Who deploys (default: the local user)."),
    rollout: ref("Rollout", "How hosts are cycled."),
    timeouts: ref("Timeouts", "Time limits of commands on the hosts."),
  }),
  Timeouts: object("Time limits of commands on the hosts, in seconds.", {
    restart: num("A restart, until the app is alive."),
    alive: num("The alive check after a restart."),
    checkCommand: num("One run of a role's check command."),
    install: num("The install command of a release."),
    buildHook: num("Each build hook."),
    migration: num("The migration."),
    backup: num("The backup before the migration."),
    upload: num("The upload of a release."),
  } satisfies Record<keyof CommandTimeouts, Property>),
};

/** The schema, as `pulumi package get-schema` and `pulumi package add` read it. */
export function packageSchema(version: string): Record<string, unknown> {
  return {
    name: "cutover",
    displayName: "Cutover",
    version,
    description: "Zero-downtime deploys of applications to fleets of servers.",
    keywords: ["deploy", "rolling", "zero-downtime", "kind/component"],
    license: "Apache-2.0",
    language: { nodejs: { packageName: "@cutover/sdk", dependencies: { "@pulumi/pulumi": "^3.248.0" }, respectSchemaVersion: true } },
    resources: {
      [DEPLOYMENT_TYPE]: {
        isComponent: true,
        description: "Deploys an app to existing servers with zero downtime: prepare every host, then batch by batch hide, switch, check and put back.",
        inputProperties: {
          inventory: ref("Inventory", "The hosts and their balancer."),
          sshPrivateKey: { type: "string", secret: true, description: "The deploy key." },
          app: ref("App", "What to deploy and how."),
        },
        requiredInputs: ["inventory", "sshPrivateKey", "app"],
        properties: {
          releaseId: str("The release the hosts serve."),
          rolloutPlan: strings("The batches, in rollout order."),
        },
        required: ["releaseId", "rolloutPlan"],
      },
    },
    types: Object.fromEntries(Object.entries(types).map(([name, t]) => [`cutover:index:${name}`, t])),
  };
}

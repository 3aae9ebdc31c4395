// Everything a Deployment can check before any resource exists: a bad argument fails the
// preview with its name and the fix, and nothing on any host changes.
import { DEFAULT_TIMEOUTS, type DeploymentArgs } from "./deployment";
import {
  CutoverInputError,
  assertReleaseId,
  refuseUnknownKeys,
  batchCount,
  validateCommand,
  validateDeployRoot,
  validateHostName,
  validateInteger,
  validateKeepReleases,
  validateLabel,
  validatePort,
  validateRelativePath,
  validateRoleName,
} from "../plan";

function validateHosts(args: DeploymentArgs): void {
  if (!Array.isArray(args.hosts) || args.hosts.length === 0) {
    throw new CutoverInputError("hosts", args.hosts, "give at least one host to deploy to", " is empty; give at least one host to deploy to");
  }
  args.hosts.forEach((h, i) => {
    validateHostName(h.name, `hosts[${i}].name`);
    if (!Array.isArray(h.roles) || h.roles.length === 0) {
      throw new CutoverInputError(`hosts[${i}].roles`, h.roles, `give host ${h.name} at least one role, e.g. ["web"]`);
    }
    h.roles.forEach((r, j) => validateRoleName(r, `hosts[${i}].roles[${j}]`));
    validateDeployRoot(h.root, `hosts[${i}].root`);
    validateCommand(h.restartCommand, `hosts[${i}].restartCommand`);
    if (h.aliveCommand !== undefined) validateCommand(h.aliveCommand, `hosts[${i}].aliveCommand`);
  });
  const names = args.hosts.map((h) => h.name);
  const dup = names.findIndex((n, i) => names.indexOf(n) !== i);
  if (dup >= 0) throw new CutoverInputError(`hosts[${dup}].name`, names[dup], `host ${names[dup]} appears twice in hosts; host names must be unique`);
  // Two names for one machine would prepare and switch it twice, racing for its lock, and
  // count it twice in the load balancer's capacity.
  sameTwice(args, "app address", (h) => (typeof h.app?.address === "string" && typeof h.app?.port === "number" ? `${h.app.address}:${validatePort(h.app.port, `hosts[${h.name}].app.port`)}` : undefined));
  sameTwice(args, "SSH endpoint", (h) => {
    const e = h.ssh;
    if (typeof e?.address !== "string" || typeof e?.port !== "number") return undefined; // known only at deploy time
    const via = e.gateway && typeof e.gateway.address === "string" ? ` via ${e.gateway.address}:${String(e.gateway.port)}` : "";
    return `${e.address}:${e.port}${via}`;
  });
}

function sameTwice(args: DeploymentArgs, what: string, keyOf: (h: DeploymentArgs["hosts"][number]) => string | undefined): void {
  const seen = new Map<string, string>();
  for (const h of args.hosts) {
    const k = keyOf(h);
    if (k === undefined) continue;
    const other = seen.get(k);
    if (other !== undefined) {
      const fix = "list each machine once, or give each host its own address";
      throw new CutoverInputError("hosts", [other, h.name], fix, ` ${other} and ${h.name} have the same ${what} ${k}: they are one machine; ${fix}`);
    }
    seen.set(k, h.name);
  }
}

/** Which hosts, by name and role, and the role the load balancer fronts: what a rollout plan needs of them. */
export type RolloutSettings = DeploymentSettings & { hosts: ReadonlyArray<{ name: string; roles: string[] }>; loadBalancerRole?: string };

function validateRoles(args: RolloutSettings): void {
  const known = new Set(args.hosts.flatMap((h) => h.roles));
  const mentioned: Array<[string, string]> = [
    ...Object.keys(args.prepare?.buildHooks ?? {}).map((r) => [r, `prepare.buildHooks.${r}`] as [string, string]),
    ...Object.keys(args.checks ?? {}).map((r) => [r, `checks.${r}`] as [string, string]),
    ...(args.smoke?.roles ?? []).map((r) => [r, "smoke.roles"] as [string, string]),
  ];
  for (const [role, where] of mentioned) {
    if (!known.has(role)) {
      throw new CutoverInputError(where, role, "fix the role name", ` names role "${role}", which no host has (roles: ${[...known].join(", ") || "none"}); fix the role name`);
    }
  }
}

/** A batch that hides every host of the balanced role would leave the balancer with nobody. */
function validateBatches(args: RolloutSettings): void {
  const size = args.batchSize ?? 1;
  const perFleet = batchCount(args.hosts.length, size, "batchSize");
  if (typeof size === "number" && perFleet > args.hosts.length) {
    throw new CutoverInputError(
      "batchSize",
      size,
      `there are only ${args.hosts.length} hosts; use at most ${args.hosts.length} (or a percentage such as "25%")`,
    );
  }
  const role = args.loadBalancerRole;
  if (role === undefined) return;
  const fronted = args.hosts.filter((h) => h.roles.includes(role)).length;
  if (fronted === 0) throw new CutoverInputError("loadBalancer.role", role, `no host has the load balancer's role "${role}"; give hosts that role or drop loadBalancer`);
  const perBatch = batchCount(fronted, size, "batchSize");
  // overlap keeps a server of every host in rotation: a batch of every host takes none away.
  if (perBatch >= fronted && args.strategy !== "overlap") {
    const max = fronted - 1;
    throw new CutoverInputError(
      "batchSize",
      size,
      max >= 1
        ? `it would hide all ${fronted} hosts of role "${role}" at once and the load balancer would have nobody to send requests to; use at most ${max} (or "${Math.floor((max * 100) / fronted)}%")`
        : `role "${role}" has a single host, so hiding it empties the load balancer; add a second host of that role, or deploy without loadBalancer`,
    );
  }
}

/** What a deployment is given besides its hosts, its artifact and its load balancer. */
export type DeploymentSettings = Omit<DeploymentArgs, "hosts" | "artifact" | "loadBalancer">;

/**
 * Every check that needs no host: the stack program runs these on its config before it
 * creates any resource (the fleet included), so a bad value changes nothing anywhere.
 */
export function validateDeploymentSettings(args: DeploymentSettings): void {
  if (args.releaseId !== undefined) assertReleaseId(args.releaseId, "releaseId");
  validateKeepReleases(args.keepReleases ?? 5, "keepReleases");
  validateLabel(args.deployer, "deployer");
  validateLabel(args.stack, "stack");
  if (args.redeploy !== undefined) validateLabel(args.redeploy, "redeploy");
  if (args.batchSize !== undefined) batchCount(1, args.batchSize, "batchSize");
  if (args.stableSeconds !== undefined) validateInteger(args.stableSeconds, "stableSeconds", { min: 0, max: 3600, unit: "seconds" });
  // It counts every server of the backend, whoever deploys it: not bounded by this deploy's hosts.
  if (args.minInRotation !== undefined) validateInteger(args.minInRotation, "minInRotation", { min: 0, max: 100_000, unit: "servers" });
  refuseUnknownKeys(args.timeouts, { keys: Object.fromEntries(Object.keys(DEFAULT_TIMEOUTS).map((k) => [k, "any" as const])) }, "timeouts");
  for (const [name, value] of Object.entries(args.timeouts ?? {})) {
    validateInteger(value, `timeouts.${name}`, { min: 1, max: 86_400, unit: "seconds" });
  }
  // Linked paths are made inside each release (and point into shared/): "..", "/" at the
  // start or "." segments would reach outside both.
  (args.prepare?.linkedDirs ?? []).forEach((d, i) => validateRelativePath(d, `prepare.linkedDirs[${i}]`));
  (args.prepare?.linkedFiles ?? []).forEach((f, i) => validateRelativePath(f, `prepare.linkedFiles[${i}]`));
  if (args.smoke?.deadlineSeconds !== undefined) validateInteger(args.smoke.deadlineSeconds, "smoke.deadlineSeconds", { min: 1, max: 3600, unit: "seconds" });
  for (const [role, c] of Object.entries(args.checks ?? {})) {
    if (c !== "none" && c.deadlineSeconds !== undefined) validateInteger(c.deadlineSeconds, `checks.${role}.deadlineSeconds`, { min: 1, max: 3600, unit: "seconds" });
  }
  if (args.prepare?.installCommand !== undefined) validateCommand(args.prepare.installCommand, "prepare.installCommand");
  for (const [role, hooks] of Object.entries(args.prepare?.buildHooks ?? {})) {
    hooks.forEach((h, i) => validateCommand(h, `prepare.buildHooks.${role}[${i}]`));
  }
  for (const [role, c] of Object.entries(args.checks ?? {})) if (c !== "none") validateCommand(c.command, `checks.${role}.command`);
  if (args.smoke && !/^\/[A-Za-z0-9._~!$&'()*+,;=:@/?%-]*$/.test(args.smoke.path)) {
    throw new CutoverInputError("smoke.path", args.smoke.path, 'give the URL path the app answers with its release id, e.g. "/healthz"');
  }
  const strategy = args.strategy ?? "cycle";
  if (strategy !== "cycle" && strategy !== "overlap") {
    throw new CutoverInputError("strategy", strategy, 'use "cycle" (restart each host out of rotation) or "overlap" (start the new release beside the old one)');
  }
  if (args.warmSeconds !== undefined) validateInteger(args.warmSeconds, "warmSeconds", { min: 0, max: 86_400, unit: "seconds" });
  if (args.canary !== undefined) {
    const c = args.canary;
    if (typeof c.maxErrorRate !== "number" || !(c.maxErrorRate >= 0 && c.maxErrorRate <= 1)) {
      throw new CutoverInputError("canary.maxErrorRate", c.maxErrorRate, "give the largest share of 5xx responses the canary may answer, from 0 to 1 (e.g. 0.05 for 5%)");
    }
    if (c.holdSeconds !== undefined) validateInteger(c.holdSeconds, "canary.holdSeconds", { min: 1, max: 3600, unit: "seconds" });
    if (c.hosts !== undefined) batchCount(1, c.hosts, "canary.hosts");
  }
  if (strategy === "overlap" && args.restoreCycled) {
    throw new CutoverInputError("restoreCycled", true, 'it is not available with strategy "overlap" yet; drop it or use "cycle"');
  }
  if (args.migration) {
    validateCommand(args.migration.command, "migration.command");
    if (args.migration.backupCommand !== undefined) validateCommand(args.migration.backupCommand, "migration.backupCommand");
  }
}

/**
 * The checks that need the hosts' names and roles only: roles that no host has, batches that
 * would empty the load-balanced tier, a migration host that is not a host. The stack program
 * runs them on the fleet's config before the fleet exists.
 */
export function validateRollout(args: RolloutSettings): void {
  validateRoles(args);
  validateBatches(args);
  const names = args.hosts.map((h) => h.name);
  if (args.migration && !names.includes(args.migration.host)) {
    const host = args.migration.host;
    throw new CutoverInputError("migration.host", host, "name one of them", ` ${JSON.stringify(host)} is not one of the hosts (${names.join(", ")}); name one of them`);
  }
}

/** overlap needs a second slot on every host it deploys, and a balancer that fronts both. */
function validateSlots(args: DeploymentArgs): void {
  if (args.strategy !== "overlap") return;
  args.hosts.forEach((h, i) => {
    if (!h.standby || h.stopCommand === undefined) {
      throw new CutoverInputError(`hosts[${i}].standby`, h.standby, `strategy "overlap" needs a second slot on ${h.name} (and its stopCommand): a local fleet with "standby": true has one`);
    }
    validateCommand(h.stopCommand, `hosts[${i}].stopCommand`);
    validatePort(h.standby.port, `hosts[${i}].standby.port`);
    validateCommand(h.standby.restartCommand, `hosts[${i}].standby.restartCommand`);
    validateCommand(h.standby.stopCommand, `hosts[${i}].standby.stopCommand`);
    if (h.standby.aliveCommand !== undefined) validateCommand(h.standby.aliveCommand, `hosts[${i}].standby.aliveCommand`);
  });
}

/** The canary judges per-server response counts: HAProxy keeps them, an AWS target group does not. */
function validateCanary(args: DeploymentArgs): void {
  if (args.canary && args.loadBalancer && args.loadBalancer.kind !== "haproxy") {
    throw new CutoverInputError("canary", args.canary, `the ${args.loadBalancer.kind} balancer counts no responses per target, so a canary cannot be judged there; drop canary or front the role with HAProxy`);
  }
}

export function validateDeployment(args: DeploymentArgs): void {
  validateHosts(args);
  if ((args.artifact === undefined) === (args.releaseId === undefined)) {
    const fix = "give exactly one of artifact (deploy a build) and releaseId (go to a release already on the hosts, e.g. a rollback)";
    throw new CutoverInputError("artifact", args.artifact, fix, `: ${fix}`);
  }
  validateDeploymentSettings(args);
  validateRollout({ ...args, loadBalancerRole: args.loadBalancer?.role });
  validateSlots(args);
  validateCanary(args);
}

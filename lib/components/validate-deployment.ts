// Everything a Deployment can check before any resource exists: a bad argument fails the
// preview with its name and the fix, and nothing on any host changes.
import { DEFAULT_TIMEOUTS, type DeploymentArgs } from "./deployment";
import {
  CutoverInputError,
  assertReleaseId,
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

const fail = (message: string): never => {
  throw new Error(`Deployment: ${message}`);
};

function validateHosts(args: DeploymentArgs): string[] {
  if (!Array.isArray(args.hosts) || args.hosts.length === 0) fail("hosts is empty; give at least one host to deploy to");
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
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) fail(`host ${dup} appears twice in hosts; host names must be unique`);
  // Two names for one machine would prepare and switch it twice, racing for its lock, and
  // count it twice in the load balancer's capacity.
  sameTwice(args, "app address", (h) => (typeof h.app?.address === "string" && typeof h.app?.port === "number" ? `${h.app.address}:${validatePort(h.app.port, `hosts[${h.name}].app.port`)}` : undefined));
  sameTwice(args, "SSH endpoint", (h) => {
    const e = h.ssh;
    if (typeof e?.address !== "string" || typeof e?.port !== "number") return undefined; // known only at deploy time
    const via = e.gateway && typeof e.gateway.address === "string" ? ` via ${e.gateway.address}:${String(e.gateway.port)}` : "";
    return `${e.address}:${e.port}${via}`;
  });
  return names;
}

function sameTwice(args: DeploymentArgs, what: string, keyOf: (h: DeploymentArgs["hosts"][number]) => string | undefined): void {
  const seen = new Map<string, string>();
  for (const h of args.hosts) {
    const k = keyOf(h);
    if (k === undefined) continue;
    const other = seen.get(k);
    if (other !== undefined) {
      fail(`hosts ${other} and ${h.name} have the same ${what} ${k}: they are one machine; list each machine once, or give each host its own address`);
    }
    seen.set(k, h.name);
  }
}

function validateRoles(args: DeploymentArgs): void {
  const known = new Set(args.hosts.flatMap((h) => h.roles));
  const mentioned: Array<[string, string]> = [
    ...Object.keys(args.prepare?.buildHooks ?? {}).map((r) => [r, `prepare.buildHooks.${r}`] as [string, string]),
    ...Object.keys(args.checks ?? {}).map((r) => [r, `checks.${r}`] as [string, string]),
    ...(args.smoke?.roles ?? []).map((r) => [r, "smoke.roles"] as [string, string]),
  ];
  for (const [role, where] of mentioned) {
    if (!known.has(role)) fail(`${where} names role "${role}", which no host has (roles: ${[...known].join(", ") || "none"}); fix the role name`);
  }
}

/** A batch that hides every host of the balanced role would leave the balancer with nobody. */
function validateBatches(args: DeploymentArgs): void {
  const size = args.batchSize ?? 1;
  const perFleet = batchCount(args.hosts.length, size, "batchSize");
  if (typeof size === "number" && perFleet > args.hosts.length) {
    throw new CutoverInputError(
      "batchSize",
      size,
      `there are only ${args.hosts.length} hosts; use at most ${args.hosts.length} (or a percentage such as "25%")`,
    );
  }
  const lb = args.loadBalancer;
  if (!lb) return;
  const fronted = args.hosts.filter((h) => h.roles.includes(lb.role)).length;
  if (fronted === 0) fail(`no host has the load balancer's role "${lb.role}"; give hosts that role or drop loadBalancer`);
  const perBatch = batchCount(fronted, size, "batchSize");
  // overlap keeps a server of every host in rotation: a batch of every host takes none away.
  if (perBatch >= fronted && args.strategy !== "overlap") {
    const max = fronted - 1;
    throw new CutoverInputError(
      "batchSize",
      size,
      max >= 1
        ? `it would hide all ${fronted} hosts of role "${lb.role}" at once and the load balancer would have nobody to send requests to; use at most ${max} (or "${Math.floor((max * 100) / fronted)}%")`
        : `role "${lb.role}" has a single host, so hiding it empties the load balancer; add a second host of that role, or deploy without loadBalancer`,
    );
  }
}

/** overlap needs a second slot on every host it deploys, and a balancer that fronts both. */
function validateStrategy(args: DeploymentArgs): void {
  const strategy = args.strategy ?? "cycle";
  if (strategy !== "cycle" && strategy !== "overlap") {
    throw new CutoverInputError("strategy", strategy, "use \"cycle\" (restart each host out of rotation) or \"overlap\" (start the new release beside the old one)");
  }
  if (args.warmSeconds !== undefined) validateInteger(args.warmSeconds, "warmSeconds", { min: 0, max: 86_400, unit: "seconds" });
  if (strategy !== "overlap") return;
  if (args.loadBalancer && args.loadBalancer.kind !== "haproxy") {
    throw new CutoverInputError("strategy", strategy, `the ${args.loadBalancer.kind} balancer cannot front two slots per host yet; use "cycle" there`);
  }
  if (args.restoreCycled) throw new CutoverInputError("restoreCycled", true, "it is not available with strategy \"overlap\" yet; drop it or use \"cycle\"");
  args.hosts.forEach((h, i) => {
    if (!h.standby || h.stopCommand === undefined) {
      throw new CutoverInputError(`hosts[${i}].standby`, h.standby, `strategy "overlap" needs a second slot on ${h.name} (and its stopCommand): a local fleet with \"standby\": true has one`);
    }
    validateCommand(h.stopCommand, `hosts[${i}].stopCommand`);
    validatePort(h.standby.port, `hosts[${i}].standby.port`);
    validateCommand(h.standby.restartCommand, `hosts[${i}].standby.restartCommand`);
    validateCommand(h.standby.stopCommand, `hosts[${i}].standby.stopCommand`);
    if (h.standby.aliveCommand !== undefined) validateCommand(h.standby.aliveCommand, `hosts[${i}].standby.aliveCommand`);
  });
}

export function validateDeployment(args: DeploymentArgs): void {
  const names = validateHosts(args);
  if ((args.artifact === undefined) === (args.releaseId === undefined)) {
    fail("give exactly one of artifact (deploy a build) and releaseId (go to a release already on the hosts, e.g. a rollback)");
  }
  if (args.releaseId !== undefined) assertReleaseId(args.releaseId, "releaseId");
  validateKeepReleases(args.keepReleases ?? 5, "keepReleases");
  validateLabel(args.deployer, "deployer");
  validateLabel(args.stack, "stack");
  if (args.redeploy !== undefined) validateLabel(args.redeploy, "redeploy");
  if (args.stableSeconds !== undefined) validateInteger(args.stableSeconds, "stableSeconds", { min: 0, max: 3600, unit: "seconds" });
  // It counts every server of the backend, whoever deploys it: not bounded by this deploy's hosts.
  if (args.minInRotation !== undefined) validateInteger(args.minInRotation, "minInRotation", { min: 0, max: 100_000, unit: "servers" });
  for (const [name, value] of Object.entries(args.timeouts ?? {})) {
    if (!(name in DEFAULT_TIMEOUTS)) fail(`timeouts.${name} is not a known time limit: use ${Object.keys(DEFAULT_TIMEOUTS).join(", ")}`);
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
  validateRoles(args);
  validateBatches(args);
  validateStrategy(args);
  if (args.smoke && !/^\/[A-Za-z0-9._~!$&'()*+,;=:@/?%-]*$/.test(args.smoke.path)) {
    fail(`smoke.path ${JSON.stringify(args.smoke.path)} is invalid: give the URL path the app answers with its release id, e.g. "/healthz"`);
  }
  if (args.migration) {
    if (!names.includes(args.migration.host)) {
      fail(`migration.host ${JSON.stringify(args.migration.host)} is not one of the hosts (${names.join(", ")}); name one of them`);
    }
    validateCommand(args.migration.command, "migration.command");
    if (args.migration.backupCommand !== undefined) validateCommand(args.migration.backupCommand, "migration.backupCommand");
  }
}

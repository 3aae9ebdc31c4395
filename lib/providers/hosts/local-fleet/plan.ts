// Pure layout of a local fleet: which loopback address, directories and ports each machine
// gets. No I/O, so it is tested with plain equality and validates every argument up front.

import { CutoverInputError } from "../../../plan/validate";

export interface LocalFleetHostSpec {
  name: string;
  roles: string[];
}

export interface LocalFleetSpec {
  /** Fleet name: part of every directory and resource name. */
  name: string;
  /** First three octets of a 127.0.0.0/8 block, e.g. "127.77.0"; .1 gateway, .2 load balancer, .10+ hosts. */
  subnet: string;
  hosts: LocalFleetHostSpec[];
  sshPort: number;
  appPort: number;
  lbPort: number;
  /** Role the load balancer fronts. */
  lbRole: string;
  baseDir: string;
  deployUser: string;
  appUser: string;
}

export interface MachinePlan {
  name: string;
  kind: "gateway" | "lb" | "host";
  roles: string[];
  address: string;
  dir: string;
  sshDir: string;
  sshdConfig: string;
  hostKey: string;
  authorizedKeys: string;
  sshdPid: string;
  sshdLog: string;
  /** Deploy root (hosts only). */
  root: string;
  supervisorDir: string;
  haproxyDir: string;
}

export interface FleetPlan {
  dir: string;
  gateway: MachinePlan;
  lb: MachinePlan;
  hosts: MachinePlan[];
  machines: MachinePlan[];
}

export const RESERVED_NAMES = ["gateway", "lb"];
const FIRST_HOST_OCTET = 10;

function fail(argument: string, value: unknown, fix: string): never {
  // An input error naming the argument, so that the stack program can name it as its config key.
  const e = new CutoverInputError(argument, value, fix, ` ${JSON.stringify(value)} is invalid: ${fix}`);
  e.message = `local fleet: ${e.message}`;
  throw e;
}

export function validateFleetSpec(s: LocalFleetSpec): void {
  if (!/^[a-z][a-z0-9-]{0,23}$/.test(s.name)) fail("name", s.name, "use 1-24 lowercase letters, digits or dashes, starting with a letter");
  const octets = s.subnet.split(".");
  if (octets.length !== 3 || octets[0] !== "127" || octets.some((o) => !/^\d{1,3}$/.test(o) || Number(o) > 255)) {
    fail("subnet", s.subnet, "give the first three octets of a loopback block, e.g. \"127.77.0\" (only 127.0.0.0/8 is allowed)");
  }
  if (s.subnet === "127.0.0") fail("subnet", s.subnet, "127.0.0.x is this machine's own loopback; pick another block such as 127.77.0");
  if (!Array.isArray(s.hosts) || s.hosts.length === 0) fail("hosts", s.hosts, "give at least one host, e.g. [{\"name\":\"web1\",\"roles\":[\"web\"]}]");
  if (s.hosts.length > 200) fail("hosts", `${s.hosts.length} hosts`, "a local fleet holds at most 200 hosts");
  const seen = new Set<string>();
  for (const h of s.hosts) {
    if (!/^[a-z][a-z0-9-]{0,30}$/.test(h.name)) fail("hosts[].name", h.name, "use lowercase letters, digits or dashes, starting with a letter");
    if (RESERVED_NAMES.includes(h.name)) fail("hosts[].name", h.name, `${RESERVED_NAMES.join(" and ")} are the fleet's own machines; rename the host`);
    if (seen.has(h.name)) fail("hosts[].name", h.name, "host names must be unique");
    seen.add(h.name);
    if (!Array.isArray(h.roles) || h.roles.length === 0) fail(`hosts[${h.name}].roles`, h.roles, "give the host at least one role, e.g. [\"web\"]");
    for (const r of h.roles) if (!/^[a-z][a-z0-9-]{0,30}$/.test(r)) fail(`hosts[${h.name}].roles`, r, "use lowercase letters, digits or dashes");
  }
  if (!s.hosts.some((h) => h.roles.includes(s.lbRole))) {
    fail("lbRole", s.lbRole, `no host has this role; give at least one host the role "${s.lbRole}" or change lbRole`);
  }
  for (const [arg, port] of [["sshPort", s.sshPort], ["appPort", s.appPort], ["lbPort", s.lbPort]] as const) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) fail(arg, port, "use a TCP port between 1 and 65535");
  }
  if (s.sshPort === s.appPort) fail("appPort", s.appPort, "must differ from sshPort");
  // The load balancer's machine runs its sshd and HAProxy on one address.
  if (s.sshPort === s.lbPort) fail("lbPort", s.lbPort, "must differ from sshPort (the load balancer listens beside its sshd)");
  if (!/^\/[A-Za-z0-9_./-]*$/.test(s.baseDir) || s.baseDir.split("/").includes("..")) {
    fail("baseDir", s.baseDir, "use an absolute path of letters, digits, _ . / - without ..");
  }
  for (const [arg, user] of [["deployUser", s.deployUser], ["appUser", s.appUser]] as const) {
    if (!/^[a-z_][a-z0-9_-]{0,30}$/.test(user) || user === "root") fail(arg, user, "use a non-root user name of lowercase letters, digits, _ or -");
  }
  if (s.deployUser === s.appUser) fail("appUser", s.appUser, "the app must run as a different user than the one that deploys it");
}

function machine(fleetDir: string, name: string, kind: MachinePlan["kind"], roles: string[], address: string): MachinePlan {
  const dir = `${fleetDir}/${name}`;
  const sshDir = `${dir}/ssh`;
  return {
    name,
    kind,
    roles,
    address,
    dir,
    sshDir,
    sshdConfig: `${sshDir}/sshd_config`,
    hostKey: `${sshDir}/ssh_host_ed25519_key`,
    authorizedKeys: `${sshDir}/authorized_keys`,
    sshdPid: `${sshDir}/sshd.pid`,
    sshdLog: `${sshDir}/sshd.log`,
    root: `${dir}/app`,
    supervisorDir: `${dir}/supervisor`,
    haproxyDir: `${dir}/haproxy`,
  };
}

export function planFleet(s: LocalFleetSpec): FleetPlan {
  validateFleetSpec(s);
  const dir = `${s.baseDir}/${s.name}`;
  const gateway = machine(dir, "gateway", "gateway", [], `${s.subnet}.1`);
  const lb = machine(dir, "lb", "lb", ["lb"], `${s.subnet}.2`);
  const hosts = s.hosts.map((h, i) => machine(dir, h.name, "host", h.roles, `${s.subnet}.${FIRST_HOST_OCTET + i}`));
  return { dir, gateway, lb, hosts, machines: [gateway, lb, ...hosts] };
}

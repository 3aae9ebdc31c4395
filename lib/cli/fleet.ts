// Reaching a stack's hosts the way an operator would: the system's ssh client through the
// gateway, with the host keys pinned in the stack's `ssh` output and its `deployKey` secret
// output (held in memory, written only to a 0700 temp dir for the call). What `cutover status`
// and `cutover unlock` read on each host: where `current` points, what the app serves, the
// host lock (held or not, from the kernel's lock table; when held, its record and the process
// the kernel says holds it — not the record's pid, which can be stale), and HAProxy's view of
// the host.
import * as path from "node:path";
import type { StackOutputs } from "./pulumi-stack";
import { Connection, runRemote } from "../engine/command-provider/ssh";
import { RunResult } from "../engine/command-provider/run";
import { script, sh } from "../scripts/quote";
import { LOCK_FUNCTIONS } from "../scripts/lock";
import { CliError } from "./args";

interface EndpointOut {
  address: string;
  port: number;
  hostKey: string;
  /** Per host (ssh and aws stacks); the local fleet names one `user` for all. */
  user?: string;
}

export interface FleetHost {
  name: string;
  roles: string[];
  /** The app's address and port (checked from the host itself). */
  address: string;
  port: number;
  root: string;
  /** The host's second slot (overlap): its port and balancer server. */
  standby?: { port: number; server: string };
}

export interface LoadBalancerRef {
  host: string;
  adminSocket: string;
  backend?: string;
}

export interface Fleet {
  hosts: FleetHost[];
  loadBalancer?: LoadBalancerRef;
  run(host: string, text: string): Promise<RunResult>;
}

/**
 * The fleet from the stack's outputs: `hosts` (name, roles, address, root, optional port),
 * `ssh` and `deployKey`; the load balancer from a `loadBalancer` output when the program has
 * one, else the local fleet's layout (`<fleet dir>/lb/haproxy/admin.sock` on host `lb`).
 */
export function fleetFromOutputs(outputs: StackOutputs, defaults: { appPort: number }, flags: string): Fleet {
  // The local fleet: one user and one gateway for all; ssh and aws stacks: per host.
  const ssh = outputs.ssh?.value as { user?: string; gateway?: EndpointOut; hosts: Record<string, EndpointOut & { gateway?: EndpointOut }> } | undefined;
  const key = outputs.deployKey?.value as string | undefined;
  const hostsOut = outputs.hosts?.value as Array<Omit<FleetHost, "port"> & { port?: number }> | undefined;
  if (!ssh || !key || !hostsOut) {
    throw new CliError(
      `cutover: the stack has no ${["ssh", "deployKey", "hosts"].filter((k) => !outputs[k]).join(", ")} output(s) yet: deploy it first (\`cutover deploy ${flags}\`); ` +
        "a program of its own exports them as stacks/index.ts does",
    );
  }
  const hosts = hostsOut.map((h) => ({ name: h.name, roles: h.roles, address: h.address, port: h.port ?? defaults.appPort, root: h.root, standby: h.standby }));
  const lbOut = outputs.loadBalancer?.value as LoadBalancerRef | undefined;
  let loadBalancer: LoadBalancerRef | undefined = lbOut;
  if (!loadBalancer && ssh.hosts.lb && hosts.length) {
    loadBalancer = { host: "lb", adminSocket: `${path.dirname(path.dirname(hosts[0].root))}/lb/haproxy/admin.sock` };
  }
  const connection = (host: string): Connection => {
    const h = ssh.hosts[host];
    if (!h) throw new CliError(`cutover: no host ${host} in the stack's ssh output`);
    const gw = h.gateway ?? ssh.gateway;
    const userOf = (e: EndpointOut) => e.user ?? ssh.user ?? "cutover";
    return {
      host: h.address,
      port: h.port,
      user: userOf(h),
      privateKey: key,
      hostKey: h.hostKey,
      dialErrorLimit: 2,
      perDialTimeout: 5,
      proxy: gw ? { host: gw.address, port: gw.port, user: userOf(gw), privateKey: key, hostKey: gw.hostKey, perDialTimeout: 5 } : undefined,
    };
  };
  return { hosts, loadBalancer, run: (host, text) => runRemote(connection(host), text, undefined, {}) };
}

export interface HostState {
  host: string;
  reachable: boolean;
  error?: string;
  current?: string;
  serves?: string;
  /** The slot that serves (an overlap host). */
  slot?: "a" | "b";
  lock?: {
    held: boolean;
    owner?: string;
    stack?: string;
    release?: string;
    step?: string;
    /** The process holding the flock, as the kernel says (absent: it cannot be told here). */
    pid?: string;
    command?: string;
    time?: string;
  };
}

/** "pid 123 on the host (its command line)", or that the holder cannot be told. */
export function lockHolderText(lock: NonNullable<HostState["lock"]>): string {
  return lock.pid ? `pid ${lock.pid} on the host (${lock.command ?? "command line unknown"})` : "holder's pid cannot be read on the host";
}

/** One script per host: `current`, the health answer, and the lock (record read only if held). */
export function hostProbe(h: FleetHost, healthPath: string): string {
  const lock = `${h.root}/.cutover/deploy.lock`;
  return script([
    sh`root=${h.root}`,
    sh`lock_file=${lock}`,
    sh`lock_info=${`${lock}.info`}`,
    "lock_proc=/proc",
    LOCK_FUNCTIONS,
    'cur=$(readlink "$root/current" 2>/dev/null) && echo "current ${cur##*/}" || echo "current -"',
    // Read from the kernel's lock table, not by taking the lock: a `flock -n` here would, for
    // its instant, refuse a deploy step starting on the host.
    '_key=$(lock_key) || _key=',
    'if [ -r "$lock_proc/locks" ]; then _held() { [ -n "$_key" ] && grep -q " FLOCK .* $_key " "$lock_proc/locks"; }',
    'else _held() { [ -e "$lock_file" ] && ! flock -n "$lock_file" true; }; fi',
    "if _held; then",
    '  echo "lock held"',
    // The record's pid is left out: the holder is whoever the kernel says.
    '  grep -v "^pid=" "$lock_info" 2>/dev/null | sed "s/^/lockinfo /"',
    "  _holder=$(lock_holder) || _holder=",
    '  [ -z "$_holder" ] || printf "lockholder %s %s\\n" "$_holder" "$(lock_cmdline "$_holder")"',
    "else",
    '  echo "lock free"',
    "fi",
    // An overlap host serves from the slot its last deploy settled on: ask that slot's port.
    sh`url=${`http://${h.address}:${h.port}${healthPath}`}`,
    ...(h.standby
      ? [
          'slot=$(cat "$root/.cutover/slots/serving" 2>/dev/null || echo a); echo "slot $slot"',
          sh`[ "$slot" != b ] || url=${`http://${h.address}:${h.standby.port}${healthPath}`}`,
        ]
      : []),
    "if body=$(curl -sS --max-time 3 -w '\ncutover-http %{http_code}' \"$url\" 2>&1); then :; fi",
    'printf "%s\\n" "$body" | sed -n "s/^cutover-http /http /p"',
    'printf "%s\\n" "$body" | grep -v "^cutover-http " | head -n 1 | sed "s/^/body /"',
  ]);
}

export function parseProbe(host: string, r: RunResult): HostState {
  if (r.code !== 0) {
    const why = r.stderr.trim().split("\n").filter((l) => l && !l.includes("cutover-ssh-")).slice(-1)[0] ?? `exit ${r.code}`;
    return { host, reachable: false, error: why };
  }
  const field = (k: string) => r.stdout.split("\n").find((l) => l.startsWith(`${k} `))?.slice(k.length + 1).trim();
  const info: Record<string, string> = {};
  for (const l of r.stdout.split("\n")) {
    const m = l.match(/^lockinfo ([a-z]+)=(.*)$/);
    if (m) info[m[1]] = m[2];
  }
  const holder = /^lockholder (\d+) (.*)$/m.exec(r.stdout);
  if (holder) Object.assign(info, { pid: holder[1], command: holder[2] });
  const code = field("http");
  const body = field("body") ?? "";
  const serves = !code || code === "000" ? `no answer${body ? ` (${body.replace(/^curl: \(\d+\) /, "")})` : ""}` : code === "200" ? body : `HTTP ${code}: ${body}`;
  const current = field("current");
  const slot = field("slot");
  return {
    host,
    reachable: true,
    current: current === "-" ? undefined : current,
    serves,
    ...(slot === "a" || slot === "b" ? { slot } : {}),
    lock: { held: field("lock") === "held", ...info },
  };
}

/** HAProxy's status column for each server (UP, DOWN, MAINT, DRAIN, NOLB …), via its admin socket. */
export async function haproxyStates(fleet: Fleet): Promise<{ states: Record<string, string>; error?: string }> {
  const lb = fleet.loadBalancer;
  if (!lb) return { states: {}, error: "no load balancer in the stack's outputs" };
  const r = await fleet.run(lb.host, sh`echo 'show stat' | socat -t 2 stdio ${`unix-connect:${lb.adminSocket}`}`);
  if (r.code !== 0) return { states: {}, error: `cannot read HAProxy on ${lb.host}: ${r.stderr.trim().split("\n").pop() || `exit ${r.code}`}` };
  return { states: parseShowStat(r.stdout, lb.backend) };
}

export function parseShowStat(csv: string, backend?: string): Record<string, string> {
  const lines = csv.split("\n").filter(Boolean);
  const header = lines[0]?.replace(/^# /, "").split(",") ?? [];
  const col = (name: string) => header.indexOf(name);
  const [px, sv, st] = [col("pxname"), col("svname"), col("status")];
  if (px < 0 || sv < 0 || st < 0) return {};
  const out: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const f = l.split(",");
    if (f[sv] === "FRONTEND" || f[sv] === "BACKEND" || (backend && f[px] !== backend)) continue;
    out[f[sv]] = f[st];
  }
  return out;
}

export function age(iso: string | undefined, now = Date.now()): string {
  const t = iso ? Date.parse(iso) : NaN;
  if (Number.isNaN(t)) return "?";
  const s = Math.max(0, Math.round((now - t) / 1000));
  return s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
}

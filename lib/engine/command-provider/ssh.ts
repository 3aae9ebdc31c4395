// SSH for remote commands, through the system's OpenSSH client: pinned host keys become a
// private known_hosts file, keys are written to a 0700 temp dir for the call's duration
// only, and a gateway ("proxy") is one ProxyCommand hop with its own key and pinned key.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { RunResult, runProcess } from "./run";
import { quote } from "../../scripts/quote";

export interface Endpoint {
  host: string;
  port?: number;
  user?: string;
  privateKey?: string;
  hostKey?: string;
  password?: string;
  perDialTimeout?: number;
  dialErrorLimit?: number;
}

export interface Connection extends Endpoint {
  proxy?: Endpoint;
}

export function describe(c: Connection): string {
  const at = (e: Endpoint) => `${e.user ?? "root"}@${e.host}:${e.port ?? 22}`;
  return c.proxy ? `${at(c)} via gateway ${at(c.proxy)}` : at(c);
}

function validate(e: Endpoint, what: string): void {
  if (!e.host) throw new Error(`${what}: connection.host is required`);
  if (e.password && !e.privateKey) {
    throw new Error(`${what}: password authentication is not supported here; give connection.privateKey`);
  }
  if (!e.privateKey) throw new Error(`${what}: connection.privateKey is required (no SSH agent is used)`);
}

/** Files for one endpoint (key, known_hosts) and the ssh options that use them. */
function endpointOptions(dir: string, name: string, e: Endpoint): string[] {
  const key = path.join(dir, `${name}.key`);
  fs.writeFileSync(key, e.privateKey!.endsWith("\n") ? e.privateKey! : `${e.privateKey}\n`, { mode: 0o600 });
  const opts = [
    "-F", "/dev/null",
    "-i", key,
    "-o", "IdentitiesOnly=yes",
    "-o", "IdentityAgent=none",
    "-o", "BatchMode=yes",
    "-o", "LogLevel=ERROR",
    "-o", `ConnectTimeout=${Math.max(1, Math.round(e.perDialTimeout ?? 15))}`,
    "-o", "ServerAliveInterval=15",
    "-p", String(e.port ?? 22),
  ];
  if (e.hostKey && e.hostKey.trim()) {
    const knownHosts = path.join(dir, `${name}.known_hosts`);
    const hostPattern = (e.port ?? 22) === 22 ? e.host : `[${e.host}]:${e.port}`;
    fs.writeFileSync(knownHosts, `${hostPattern} ${e.hostKey.trim()}\n`, { mode: 0o600 });
    opts.push("-o", `UserKnownHostsFile=${knownHosts}`, "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes");
  } else {
    // Same as pulumi-command without hostKey: the host key is not checked.
    opts.push("-o", "UserKnownHostsFile=/dev/null", "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no");
  }
  return opts;
}

export interface SshCall {
  args: string[];
  cleanup(): void;
}

/** Arguments for `ssh`/`scp` (tool decides the port flag) to reach the connection's host. */
export function prepare(c: Connection, tool: "ssh" | "scp"): SshCall {
  validate(c, describe(c));
  if (c.proxy) validate(c.proxy, `gateway of ${describe(c)}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-ssh-"));
  fs.chmodSync(dir, 0o700);
  const args = endpointOptions(dir, "target", c);
  if (c.proxy) {
    const hop = ["ssh", ...endpointOptions(dir, "gateway", c.proxy), "-W", "%h:%p", `${c.proxy.user ?? "root"}@${c.proxy.host}`];
    // ssh hands ProxyCommand to /bin/sh: every word goes through the one quoting helper.
    args.push("-o", `ProxyCommand=${hop.map((w) => quote(w)).join(" ")}`);
  }
  if (tool === "scp") {
    const i = args.indexOf("-p");
    args[i] = "-P";
  }
  return { args, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

const transient = /Connection refused|Connection timed out|Connection reset|No route to host|kex_exchange_identification|Connection closed by/i;

/** Runs with retries while the host cannot be dialled (exit 255 with a network error). */
export async function withDialRetries(c: Connection, attempt: () => Promise<RunResult>): Promise<RunResult> {
  const limit = c.dialErrorLimit ?? 10;
  for (let tries = 1; ; tries++) {
    const result = await attempt();
    const dialFailed = result.code === 255 && transient.test(result.stderr);
    if (!dialFailed || (limit >= 0 && tries >= limit)) return result;
    await new Promise((r) => setTimeout(r, Math.min(500 * tries, 3000)));
  }
}

export async function runRemote(c: Connection, commandText: string, stdin: string | undefined, env: Record<string, string>): Promise<RunResult> {
  const call = prepare(c, "ssh");
  try {
    const setEnv = Object.entries(env).flatMap(([k, v]) => ["-o", `SetEnv=${k}="${v.replace(/(["\\])/g, "\\$1")}"`]);
    const target = `${c.user ?? "root"}@${c.host}`;
    return await withDialRetries(c, () => runProcess("ssh", [...call.args, ...setEnv, "-T", target, "--", commandText], { stdin }));
  } finally {
    call.cleanup();
  }
}

export async function copyToRemote(c: Connection, source: string, remotePath: string, recursive: boolean): Promise<RunResult> {
  const call = prepare(c, "scp");
  try {
    const target = `${c.user ?? "root"}@${c.host}:${remotePath}`;
    return await withDialRetries(c, () => runProcess("scp", [...call.args, "-q", ...(recursive ? ["-r"] : []), source, target], {}));
  } finally {
    call.cleanup();
  }
}

/** ssh's own failures (exit 255) are about reaching the host, not the command. */
export function connectionError(c: Connection, r: RunResult): Error {
  // ssh's advice about its known_hosts file points at our temp file: not useful to the user.
  const lines = r.stderr.split("\n").map((l) => l.trim()).filter((l) => l && !l.includes("cutover-ssh-") && !/^Offending|^Remove with|^@+$|^Please contact/.test(l));
  const reason = lines.slice(-3).join("; ") || `exit ${r.code}`;
  const hint = /host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/i.test(r.stderr)
    ? " (the host presented a key other than the pinned connection.hostKey: check the host, then update the pinned key)"
    : "";
  return new Error(`cannot reach ${describe(c)}: ${reason}${hint}`);
}

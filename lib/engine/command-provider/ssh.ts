// SSH for remote commands, through the system's OpenSSH client. One call is one session:
//
// 1. A private 0700 dir holds what ssh needs to find: pinned host keys (a private known_hosts
//    file per endpoint), the public halves of the keys, logs and two sockets. Never a private
//    key: keys go from memory into an ssh-agent started for this call (`ssh-add -` on stdin).
// 2. Dial: `ssh -N -f` with ControlMaster establishes and authenticates the connection (through
//    the gateway's ProxyCommand hop when there is one). Its exit status alone says whether the
//    host was reached; only this phase is retried (dialErrorLimit), so a command never runs
//    twice. The agent is killed as soon as the connection is up.
// 3. The command (or scp) runs over that connection's control socket. Whatever its exit status,
//    255 included, the host was reached and the command's result is reported as such.
// 4. Cleanup on every exit path (return, throw, SIGINT/SIGTERM/SIGHUP, process exit): agent
//    killed, connection closed, dir removed. After a SIGKILL the agent exits within 10 s (it
//    watches a pipe from this process) and the connection after 10 s idle (ControlPersist).
import { ChildProcess, spawn, spawnSync } from "node:child_process";
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

/** A remote call's result; `reached` is false when ssh could not connect and authenticate. */
export interface RemoteResult extends RunResult {
  reached: boolean;
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
  if (!e.privateKey) throw new Error(`${what}: connection.privateKey is required`);
}

/** ssh expands `%` tokens (in paths, ControlPath, ProxyCommand): a literal `%` is written `%%`. */
export function sshPercent(text: string): string {
  return text.replace(/%/g, "%%");
}

/** A path as one ssh option value: quoted (ssh splits values at whitespace), `%` doubled. */
function optionPath(p: string): string {
  if (/["\\\n\r]|\$\{/.test(p)) throw new Error(`cannot hand the path ${JSON.stringify(p)} to ssh (quote, backslash, newline or \${)`);
  return `"${sshPercent(p)}"`;
}

/** Where call dirs go: the system temp dir unless its path would break a socket path or ssh. */
function callDirBase(): string {
  const t = os.tmpdir();
  return path.isAbsolute(t) && t.length <= 60 && !/["\\\n\r]|\$\{/.test(t) ? t : "/tmp";
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Options every ssh invocation of a call shares. */
const COMMON = ["-F", "/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"];

/** Options that dial one endpoint: its key (from the agent), its pinned host key, its log. */
function endpointOptions(dir: string, name: string, e: Endpoint, publicKey: string): string[] {
  const pub = path.join(dir, `${name}.pub`);
  fs.writeFileSync(pub, `${publicKey}\n`, { mode: 0o600 });
  const opts = [
    ...COMMON,
    "-o", `IdentityAgent=${optionPath(path.join(dir, "agent"))}`,
    "-o", `IdentityFile=${optionPath(pub)}`,
    "-o", "IdentitiesOnly=yes",
    "-o", `ConnectTimeout=${Math.max(1, Math.round(e.perDialTimeout ?? 15))}`,
    "-o", "ServerAliveInterval=15",
    "-p", String(e.port ?? 22),
  ];
  if (e.hostKey && e.hostKey.trim()) {
    const knownHosts = path.join(dir, `${name}.known_hosts`);
    const hostPattern = (e.port ?? 22) === 22 ? e.host : `[${e.host}]:${e.port}`;
    fs.writeFileSync(knownHosts, `${hostPattern} ${e.hostKey.trim()}\n`, { mode: 0o600 });
    opts.push("-o", `UserKnownHostsFile=${optionPath(knownHosts)}`, "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes");
  } else {
    // Same as pulumi-command without hostKey: the host key is not checked.
    opts.push("-o", "UserKnownHostsFile=/dev/null", "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no");
  }
  return opts;
}

/**
 * The ProxyCommand for a hop through the gateway. ssh hands it to /bin/sh after expanding `%`
 * tokens: every word is shell-quoted by the one quoting helper, then its `%` doubled, except
 * the `%h:%p` that names the target. (Paths inside were already doubled once for the inner
 * ssh, which expands them again.)
 */
export function proxyCommand(hopWords: string[]): string {
  return hopWords.map((w) => (w === "%h:%p" ? w : sshPercent(quote(w)))).join(" ");
}

/** Options for ssh/scp clients that run over an established connection, never dialling. */
function muxOptions(controlPath: string): string[] {
  return [
    ...COMMON,
    "-o", "ControlMaster=no",
    "-o", `ControlPath=${optionPath(controlPath)}`,
    // Without the control socket ssh would dial directly, unpinned: make that fail instead.
    "-o", "ProxyCommand=false",
  ];
}

/** The ssh-agent of one call: holds the keys in memory while the connection is dialled. */
class CallAgent {
  private constructor(
    private readonly child: ChildProcess,
    private readonly pid: number,
    readonly socket: string,
  ) {}

  /**
   * Started in ssh-agent's command mode with a command that waits on a pipe from this process:
   * if this process dies, even by SIGKILL, the pipe closes and the agent exits within 10 s.
   */
  static start(socket: string): Promise<CallAgent> {
    return new Promise((resolve, reject) => {
      const child = spawn("ssh-agent", ["-a", socket, "/bin/sh", "-c", 'printf "%s\\n" "$SSH_AGENT_PID"; exec cat >/dev/null'], {
        stdio: ["pipe", "pipe", "pipe"],
      });
      let out = "";
      let err = "";
      const timer = setTimeout(() => fail(new Error("ssh-agent did not start within 10 s")), 10_000);
      const fail = (e: Error) => {
        clearTimeout(timer);
        child.stdin?.destroy();
        reject(e);
      };
      child.on("error", (e) => fail(new Error(`cannot start ssh-agent (OpenSSH's client tools are required): ${e.message}`)));
      child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
      child.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        const m = /^(\d+)\n/.exec(out);
        if (!m) return;
        clearTimeout(timer);
        child.stdout!.removeAllListeners("data");
        resolve(new CallAgent(child, Number(m[1]), socket));
      });
      child.on("exit", (code) => fail(new Error(`ssh-agent exited with ${code} before it was ready: ${err.trim()}`)));
    });
  }

  /** Adds a key (from memory, via stdin) and returns its public half. */
  async add(privateKey: string): Promise<string> {
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", SSH_AUTH_SOCK: this.socket, SSH_ASKPASS_REQUIRE: "never" };
    const before = await this.list(env);
    const key = privateKey.endsWith("\n") ? privateKey : `${privateKey}\n`;
    // Detached: no controlling terminal, so a passphrase-protected key fails instead of prompting.
    const added = await runProcess("ssh-add", ["-q", "-t", "900", "-"], { env, stdin: key, detached: true });
    if (added.code !== 0) {
      throw new Error(`connection.privateKey cannot be used: ${added.stderr.trim() || `ssh-add exit ${added.code}`} (an unencrypted OpenSSH or PEM private key is required)`);
    }
    const after = await this.list(env);
    const fresh = after.filter((k) => !before.includes(k));
    // The same key added twice (target and gateway often share one) adds nothing new.
    const pub = fresh[0] ?? (after.length === 1 ? after[0] : undefined);
    if (!pub) throw new Error("cannot tell which public key ssh-add loaded");
    return pub;
  }

  private async list(env: NodeJS.ProcessEnv): Promise<string[]> {
    const r = await runProcess("ssh-add", ["-L"], { env });
    // Exit 1 with "The agent has no identities." when empty.
    return r.code === 0 ? r.stdout.split("\n").filter((l) => /^\S+ \S+/.test(l)).map((l) => l.split(" ").slice(0, 2).join(" ")) : [];
  }

  stop(): void {
    try {
      process.kill(this.pid, "SIGTERM");
    } catch {
      /* already gone */
    }
    this.child.stdin?.destroy();
    this.child.stdout?.destroy();
    this.child.stderr?.destroy();
  }
}

/**
 * One dial: `ssh -N -f` exits 0 once connected and authenticated, leaving the connection in the
 * background; 255 when it cannot. Its stderr (and the gateway hop's, which inherits it) goes to
 * a file: the backgrounded connection keeps the descriptor, so a pipe would never close.
 */
async function dialOnce(args: string[], logPath: string): Promise<number> {
  const fd = fs.openSync(logPath, "w", 0o600);
  try {
    const child = spawn("ssh", args, { stdio: ["ignore", "ignore", fd] });
    return await new Promise<number>((resolve, reject) => {
      child.on("error", reject);
      child.on("exit", (code) => resolve(code ?? 255));
    });
  } finally {
    fs.closeSync(fd);
  }
}

const live = new Set<SshSession>();
let hooked = false;

/** Cleanup on process exit and on the signals that end a provider. */
function hookProcessExit(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", () => live.forEach((s) => s.close()));
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = () => {
      live.forEach((s) => s.close());
      // Re-raise with the default action unless someone else handles the signal.
      if (process.listenerCount(signal) === 1) {
        process.removeListener(signal, onSignal);
        process.kill(process.pid, signal);
      }
    };
    process.on(signal, onSignal);
  }
}

/** One connection to a host: dialled once (with retries), used by commands and copies, closed. */
export class SshSession {
  private agent?: CallAgent;
  private connected = false;
  private closed = false;
  readonly dir: string;
  readonly controlPath: string;

  private constructor(readonly connection: Connection) {
    this.dir = fs.mkdtempSync(path.join(callDirBase(), "cutover-ssh-"));
    fs.chmodSync(this.dir, 0o700);
    this.controlPath = path.join(this.dir, "control");
    live.add(this);
    hookProcessExit();
  }

  /** Dials the connection; `reached: false` with ssh's own messages when it cannot. */
  static async open(c: Connection, envNames: string[] = []): Promise<{ session: SshSession; dial: RemoteResult }> {
    validate(c, describe(c));
    if (c.proxy) validate(c.proxy, `gateway of ${describe(c)}`);
    const bad = envNames.find((n) => !ENV_NAME.test(n));
    if (bad !== undefined) throw new Error(`environment variable name ${JSON.stringify(bad)} is not valid`);
    const session = new SshSession(c);
    try {
      const dial = await session.dial(envNames);
      return { session, dial };
    } catch (e) {
      session.close();
      throw e;
    }
  }

  private async dial(envNames: string[]): Promise<RemoteResult> {
    const c = this.connection;
    this.agent = await CallAgent.start(path.join(this.dir, "agent"));
    const targetPub = await this.agent.add(c.privateKey!);
    const args = endpointOptions(this.dir, "target", c, targetPub);
    if (c.proxy) {
      const gatewayPub = c.proxy.privateKey === c.privateKey ? targetPub : await this.agent.add(c.proxy.privateKey!);
      const hop = ["ssh", ...endpointOptions(this.dir, "gateway", c.proxy, gatewayPub), "-W", "%h:%p", `${c.proxy.user ?? "root"}@${c.proxy.host}`];
      args.push("-o", `ProxyCommand=${proxyCommand(hop)}`);
    }
    args.push(
      "-o", "ControlMaster=yes",
      "-o", `ControlPath=${optionPath(this.controlPath)}`,
      // Idle time before an orphaned connection closes itself (this process killed hard).
      "-o", "ControlPersist=10",
      ...(envNames.length ? ["-o", `SendEnv=${envNames.join(" ")}`] : []),
      "-N", "-f",
      `${c.user ?? "root"}@${c.host}`,
    );
    const limit = c.dialErrorLimit ?? 10;
    const log = path.join(this.dir, "dial.log");
    try {
      for (let tries = 1; ; tries++) {
        const code = await dialOnce(args, log);
        if (code === 0) {
          this.connected = true;
          return { code: 0, stdout: "", stderr: "", reached: true };
        }
        if (limit >= 0 && tries >= Math.max(1, limit)) {
          return { code, stdout: "", stderr: fs.readFileSync(log, "utf8"), reached: false };
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(500 * tries, 3000)));
      }
    } finally {
      // Authenticated (or given up): the keys are not needed any more.
      this.agent.stop();
      this.agent = undefined;
    }
  }

  /** Runs a command on the host over the connection. */
  async run(commandText: string, stdin: string | undefined, env: Record<string, string>): Promise<RemoteResult> {
    const names = Object.keys(env);
    const args = [...muxOptions(this.controlPath), ...(names.length ? ["-o", `SendEnv=${names.join(" ")}`] : []), "-T", this.target(), "--", commandText];
    const r = await runProcess("ssh", args, { stdin, env: { ...process.env, ...env } });
    return { ...r, reached: true };
  }

  /** Copies a file or directory to the host over the connection (scp, SFTP protocol). */
  async copy(source: string, remotePath: string, recursive: boolean): Promise<RemoteResult> {
    const args = [...muxOptions(this.controlPath), "-q", ...(recursive ? ["-r"] : []), source, `${this.target()}:${remotePath}`];
    const r = await runProcess("scp", args, {});
    return { ...r, reached: true };
  }

  private target(): string {
    return `${this.connection.user ?? "root"}@${this.connection.host}`;
  }

  /** Kills the agent, closes the connection, removes the dir. Synchronous: safe in exit handlers. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    live.delete(this);
    this.agent?.stop();
    if (this.connected) {
      spawnSync("ssh", [...muxOptions(this.controlPath), "-O", "exit", this.target()], { stdio: "ignore", timeout: 5000 });
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

async function withSession(c: Connection, envNames: string[], use: (s: SshSession) => Promise<RemoteResult>): Promise<RemoteResult> {
  const { session, dial } = await SshSession.open(c, envNames);
  try {
    return dial.reached ? await use(session) : dial;
  } finally {
    session.close();
  }
}

export function runRemote(c: Connection, commandText: string, stdin: string | undefined, env: Record<string, string>): Promise<RemoteResult> {
  return withSession(c, Object.keys(env), (s) => s.run(commandText, stdin, env));
}

export function copyToRemote(c: Connection, source: string, remotePath: string, recursive: boolean): Promise<RemoteResult> {
  return withSession(c, [], (s) => s.copy(source, remotePath, recursive));
}

/** The error for a host that could not be reached (`reached: false`), with ssh's own reasons. */
export function connectionError(c: Connection, r: RunResult): Error {
  // ssh's advice about its known_hosts file points at our temp file: not useful to the user.
  const lines = r.stderr.split("\n").map((l) => l.trim()).filter((l) => l && !l.includes("cutover-ssh-") && !/^Offending|^Remove with|^@+$|^Please contact|^IT IS POSSIBLE|^Someone could|^It is also possible|^The fingerprint|^SHA256:/i.test(l));
  const reason = lines.slice(-3).join("; ") || `exit ${r.code}`;
  // Wording for the person reading the error only; what happened was decided by the exit status.
  const hint = /host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/i.test(r.stderr)
    ? " (the host presented a key other than the pinned connection.hostKey: check the host, then update the pinned key)"
    : "";
  return new Error(`cannot reach ${describe(c)}: ${reason}${hint}`);
}

/**
 * One authenticated SSH connection per endpoint for as long as the agent lives, shared by
 * every step of every deploy that reaches that endpoint (the `ssh2` library). A host behind
 * a gateway is reached through a `forwardOut` channel of the gateway's own pooled connection,
 * so a deploy to N hosts behind one bastion costs N + 1 handshakes (+1 for the balancer).
 *
 * Host keys are pinned: the key the server presents must equal the endpoint's `hostKey`
 * (authorized_keys format), byte for byte, or the connection is refused. The private key
 * stays in this process's memory; nothing is written to disk.
 */
import * as fs from "node:fs";
import { Client, ClientChannel } from "ssh2";
import { Endpoint, HostEndpoint } from "./context";
import { sh } from "../scripts/quote";

export interface RunResult {
  /** Exit status; 255 when the command was killed or the channel closed without one. */
  code: number;
  stdout: string;
  stderr: string;
  /** Why there was no exit status: the signal that killed the command, or a dropped channel. */
  abnormal?: string;
}

/** Counts what the pool did, for the benchmark and the event log. */
export interface PoolObserver {
  handshake(endpoint: string): void;
  command(endpoint: string): void;
  upload(endpoint: string, bytes: number): void;
}

const describe = (e: Endpoint) => `${e.user}@${e.address}:${e.port}`;

function pinnedKeyBlob(hostKey: string, where: string): Buffer {
  const parts = hostKey.trim().split(/\s+/);
  if (parts.length < 2 || !/^[A-Za-z0-9+/=]+$/.test(parts[1])) {
    throw new Error(`the pinned host key of ${where} is not in authorized_keys format ("ssh-ed25519 AAAA…"): fix the host's hostKey`);
  }
  return Buffer.from(parts[1], "base64");
}

/** What a remote command is, for the message when it passes its time limit. */
export interface RunOptions {
  /** Longest the command may run; then its channel is closed and the result says so. */
  limitSeconds: number;
  /** Streams output as it arrives. */
  onOutput?: (stream: "stdout" | "stderr", text: string) => void;
}

/**
 * OpenSSH's default MaxSessions is 10 channels per connection; every host of a batch hides and
 * puts back through the one connection to the balancer, so channels are queued below that.
 */
export const DEFAULT_MAX_CHANNELS = 8;
/** A dial (TCP, handshake, authentication) or a channel open that takes longer has failed. */
const DIAL_SECONDS = 15;

/** A counting semaphore: at most `limit` holders, the rest queue in order. */
class Slots {
  private used = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly limit: number) {}
  async take(): Promise<() => void> {
    if (this.used >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    else this.used++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.used--;
    };
  }
}

function within<T>(seconds: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${seconds} s`)), seconds * 1000);
  });
  return Promise.race([work, limit]).finally(() => clearTimeout(timer));
}

export class SshPool {
  private readonly clients = new Map<string, Promise<Client>>();
  private readonly slots = new Map<string, Slots>();

  constructor(
    private readonly observer: PoolObserver = { handshake: () => undefined, command: () => undefined, upload: () => undefined },
    private readonly maxChannels = DEFAULT_MAX_CHANNELS,
  ) {}

  private connect(e: Endpoint, sock?: ClientChannel): Promise<Client> {
    const where = describe(e);
    const expected = pinnedKeyBlob(e.hostKey, where);
    let presentedOther = false;
    return new Promise((resolve, reject) => {
      const client = new Client();
      client.once("ready", () => {
        this.observer.handshake(where);
        resolve(client);
      });
      client.once("error", (err) => {
        const hint = presentedOther
          ? " (the host presented a key other than its pinned hostKey: check the host, then update the pinned key)"
          : "";
        reject(new Error(`cannot reach ${where}: ${err.message}${hint}`));
      });
      // A server that ends the connection (its sshd session killed) is gone, but ssh2 then
      // stops its keepalives and, seen on a host's session killed mid-command, reported "end"
      // and never "close": the commands on it waited out their limits (a start, 52 s, with the
      // host hidden). An SSH server never half-closes a live connection: destroy it, so its
      // commands end now and the pool dials again. Through a gateway the connection rides a
      // forwarded channel, which the gateway may only half-close too.
      client.on("end", () => client.destroy());
      sock?.on("end", () => client.destroy());
      sock?.on("close", () => client.destroy());
      client.connect({
        host: e.address,
        port: e.port,
        username: e.user,
        privateKey: e.privateKey,
        sock: sock as never,
        readyTimeout: DIAL_SECONDS * 1000,
        // A silent peer is declared dead after ~9 s instead of hanging every later command.
        keepaliveInterval: 3_000,
        keepaliveCountMax: 3,
        hostVerifier: (key: Buffer) => {
          const ok = Buffer.isBuffer(key) && key.equals(expected);
          presentedOther = !ok;
          return ok;
        },
      });
      // Without it every exec waits on Nagle's algorithm against the server's delayed ACK:
      // `true` took 98 ms a command instead of 12 ms (loopback, idle machine), and a hidden host
      // waits on three commands. Through a gateway this is the gateway's socket's business.
      client.setNoDelay(true);
    });
  }

  private key(e: HostEndpoint): string {
    return `${describe(e)}${e.gateway ? ` via ${describe(e.gateway)}` : ""}`;
  }

  private slotsOf(e: HostEndpoint): Slots {
    const key = this.key(e);
    let s = this.slots.get(key);
    if (!s) this.slots.set(key, (s = new Slots(this.maxChannels)));
    return s;
  }

  /** The pooled client for an endpoint; a closed or failed connection is dialled again. */
  client(e: HostEndpoint): Promise<Client> {
    const key = this.key(e);
    const existing = this.clients.get(key);
    if (existing) return existing;
    const made = (async () => {
      let sock: ClientChannel | undefined;
      if (e.gateway) {
        try {
          sock = await this.forward(e.gateway, e);
        } catch {
          // A pooled gateway connection keeps the destinations its key allowed when it
          // authenticated (a `permitopen` list in authorized_keys): a host added to the fleet
          // since is refused on it. Once more on a fresh one; channels on the old one go on.
          this.clients.delete(this.key(e.gateway));
          sock = await this.forward(e.gateway, e);
        }
      }
      const client = await this.connect(e, sock);
      const forget = () => {
        if (this.clients.get(key) === made) this.clients.delete(key);
      };
      // "end" too: a connection through a gateway whose far side died (sshd restarted, host
      // rebooted) may end without ever closing, and ssh2 then refuses every call on it.
      client.on("end", forget);
      client.on("close", forget);
      client.on("error", forget);
      return client;
    })();
    this.clients.set(key, made);
    made.catch(() => this.clients.delete(key));
    return made;
  }

  /** A channel through the gateway's pooled connection to the host's SSH port. */
  private async forward(gateway: HostEndpoint, e: HostEndpoint): Promise<ClientChannel> {
    const gw = await this.client(gateway);
    const release = await this.slotsOf(gateway).take();
    try {
      return await within(
        DIAL_SECONDS,
        `opening a channel through gateway ${describe(gateway)} to ${e.address}:${e.port}`,
        new Promise<ClientChannel>((resolve, reject) =>
          gw.forwardOut("127.0.0.1", 0, e.address, e.port, (err, stream) =>
            err ? reject(new Error(`gateway ${describe(gateway)} cannot open a channel to ${e.address}:${e.port}: ${err.message}`)) : resolve(stream),
          ),
        ),
      );
    } finally {
      release();
    }
  }

  /** Drops the endpoint's connection (it looks dead): the next call dials again. */
  private drop(e: HostEndpoint, client: Client): void {
    const key = this.key(e);
    this.clients.delete(key);
    client.destroy();
  }

  /**
   * Starts `sh -c <script>` on the endpoint in a channel slot (at most maxChannels per
   * connection; the slot is released when the channel closes); the caller drives the channel.
   */
  private async open(e: HostEndpoint, script: string): Promise<{ channel: ClientChannel; client: Client; release: () => void }> {
    const release = await this.slotsOf(e).take();
    try {
      const client = await this.client(e);
      this.observer.command(describe(e));
      const channel = await within(
        DIAL_SECONDS,
        `starting a command on ${describe(e)}`,
        new Promise<ClientChannel>((resolve, reject) =>
          client.exec(sh`sh -c ${script}`, (err, ch) => {
            if (err) return reject(new Error(`${describe(e)}: cannot start a command: ${err.message}`));
            watchExit(ch);
            resolve(ch);
          }),
        ),
      ).catch((err: Error) => {
        if (/did not finish within/.test(err.message)) this.drop(e, client);
        throw err;
      });
      channel.once("close", release);
      return { channel, client, release };
    } catch (err) {
      release();
      throw err;
    }
  }

  /**
   * Runs a script to completion within `limitSeconds`; stdout and stderr are collected. A
   * command that passes its limit has its channel closed and comes back with code 255 and
   * `abnormal` naming the limit (the caller names the host and the step).
   */
  async run(e: HostEndpoint, script: string, options: RunOptions): Promise<RunResult> {
    const { channel, client, release } = await this.open(e, script);
    channel.end();
    // A channel of a connection that died may never report "close": the result is decided by
    // whichever comes first — the command's end, the connection's end, or the limit (then a
    // short grace for the close, after which the connection is taken for dead and dropped).
    let stdout = "";
    let stderr = "";
    const collected = collect(channel, (stream, text) => {
      if (stream === "stdout") stdout += text;
      else stderr += text;
      options.onOutput?.(stream, text);
    });
    let timer: NodeJS.Timeout | undefined;
    let onClientGone: (() => void) | undefined;
    const cut = new Promise<RunResult>((resolve) => {
      onClientGone = () => resolve({ code: 255, stdout, stderr, abnormal: "the connection closed before the command finished" });
      client.once("close", onClientGone);
      client.once("end", onClientGone);
      timer = setTimeout(() => {
        channel.close();
        const abnormal = `did not finish within its limit of ${options.limitSeconds} s`;
        timer = setTimeout(() => {
          this.drop(e, client);
          resolve({ code: 255, stdout, stderr, abnormal });
        }, 2_000);
        collected.then((r) => resolve({ ...r, code: 255, abnormal }));
      }, options.limitSeconds * 1000);
    });
    try {
      return await Promise.race([collected, cut]);
    } finally {
      clearTimeout(timer);
      if (onClientGone) client.off("close", onClientGone).off("end", onClientGone);
      release();
    }
  }

  /**
   * A command that changes nothing (a probe, a watch): run once more when the connection
   * dropped under it, saying so through `onRetry`.
   */
  async runReadOnly(e: HostEndpoint, script: string, options: RunOptions, onRetry: (why: string) => void): Promise<RunResult> {
    const r = await this.run(e, script, options);
    if (!r.abnormal) return r;
    onRetry(r.abnormal);
    return this.run(e, script, options);
  }

  /** Copies a local file to `remotePath` over SFTP on the pooled connection, within `limitSeconds`. */
  async upload(e: HostEndpoint, localPath: string, remotePath: string, limitSeconds: number): Promise<void> {
    const release = await this.slotsOf(e).take();
    try {
      const client = await this.client(e);
      this.observer.upload(describe(e), fs.statSync(localPath).size);
      await within(
        limitSeconds,
        `the upload to ${describe(e)}:${remotePath}`,
        new Promise<void>((resolve, reject) =>
          client.sftp((err, sftp) => {
            if (err) return reject(new Error(`${describe(e)}: cannot start SFTP: ${err.message}`));
            sftp.fastPut(localPath, remotePath, { mode: 0o600 }, (putErr) => {
              sftp.end();
              putErr ? reject(new Error(`${describe(e)}: upload to ${remotePath} failed: ${putErr.message}`)) : resolve();
            });
          }),
        ),
      );
    } finally {
      release();
    }
  }

  close(): void {
    for (const c of this.clients.values()) c.then((client) => client.end()).catch(() => undefined);
    this.clients.clear();
  }
}

/**
 * The exit status, recorded from inside the exec callback. ssh2 emits "exit" as a plain event
 * while it parses the server's packets, and a command that ends at once (a migration that
 * already ran) has its exit status in the same read as the exec's success: by the time the
 * caller's `await` resumes and collect() listens, the event is gone, and the step failed with
 * "the connection closed before the command finished". Output is not lost that way (the
 * channel's streams buffer it until read).
 */
const exits = new WeakMap<ClientChannel, { code: number | null; signal?: string } | undefined>();

/** Records the channel's exit status from now on (once per channel). */
export function watchExit(channel: ClientChannel): void {
  if (exits.has(channel)) return;
  exits.set(channel, undefined);
  channel.once("exit", (code: number | null, signal?: string) => exits.set(channel, { code, signal }));
}

/** Collects a channel's output until it closes; the exit code (255 if the channel died). */
export function collect(channel: ClientChannel, onOutput?: (stream: "stdout" | "stderr", text: string) => void): Promise<RunResult> {
  watchExit(channel);
  let stdout = "";
  let stderr = "";
  channel.on("data", (d: Buffer) => {
    stdout += d.toString();
    onOutput?.("stdout", d.toString());
  });
  channel.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
    onOutput?.("stderr", d.toString());
  });
  return new Promise((resolve) =>
    channel.on("close", () => {
      const exit = exits.get(channel);
      const abnormal = !exit
        ? "the connection closed before the command finished"
        : exit.code === null
          ? `killed by signal ${exit.signal ?? "?"}`
          : undefined;
      resolve({ code: exit?.code ?? 255, stdout, stderr, abnormal });
    }),
  );
}

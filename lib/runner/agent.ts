/**
 * The agent: one background process per user (and per build of Cutover) on the deploying
 * machine that carries out deploy steps over pooled SSH connections.
 *
 * Why a separate process: Pulumi runs each step as its own short command (with the genuine
 * pulumi-command provider as with the one here), so only something that outlives a step can
 * share one SSH connection per host across a deploy; and a host's cycle must finish (the host
 * put back in rotation) even when `pulumi up` is killed. The agent is detached from the
 * caller's terminal and stdio, listens on a unix socket in a 0700 directory, holds deploy
 * contexts (with private keys) in memory only, and exits after a minute without work.
 *
 * Protocol: one JSON object per line each way (protocol.ts).
 */
import * as fs from "node:fs";
import * as net from "node:net";
import { DeployContext } from "./context";
import { appendEvent, Phase } from "./events";
import { JobEnv, migrate, prepare } from "./jobs";
import { CycleEnv, StepFailure, cycle } from "./cycle";
import { EarlyAttaches, sshHostOps, sshSlotOps } from "./host-ops";
import { membershipFor } from "./membership";
import { AgentReply, AgentRequest, JobName, agentPaths, readLines, send } from "./protocol";
import { SshPool } from "./ssh-pool";

const IDLE_MS = Number(process.env.CUTOVER_AGENT_IDLE_MS ?? 60_000);

/** A deploy's identity: its key and its checkout, so two checkouts never share a context or connections. */
const deployId = (key: string, checkout: string) => `${key}|${checkout}`;

interface Job {
  listeners: Set<(reply: AgentReply) => void>;
  /** Every reply so far: a step that joins late (a prefetched prepare) gets them all. */
  replies: AgentReply[];
  cancelled: boolean;
  done: Promise<void>;
}

export class Agent {
  private readonly contexts = new Map<string, DeployContext>();
  /** Work shared by the steps of one registration (restoreCycled peers), by deploy id. */
  private readonly onces = new Map<string, Map<string, Promise<unknown>>>();
  private readonly pools = new Map<string, SshPool>();
  private readonly jobs = new Map<string, Job>();
  /** Prefetched prepares that succeeded before their host's step asked, by job id, until it does. */
  private readonly unclaimed = new Map<string, Job>();
  /** Deploy keys whose prepares were started for every host since their last registration. */
  private readonly prefetched = new Set<string>();
  private clients = 0;
  private idleTimer?: NodeJS.Timeout;

  constructor(
    private readonly server: net.Server,
    private readonly idleMs = IDLE_MS,
  ) {}

  private pool(id: string, key: string): SshPool {
    let p = this.pools.get(id);
    if (!p) {
      p = new SshPool({
        handshake: (endpoint) => appendEvent(key, { t: Date.now(), kind: "ssh-handshake", endpoint }),
        command: (endpoint) => appendEvent(key, { t: Date.now(), kind: "remote-command", endpoint }),
        upload: (endpoint, bytes) => appendEvent(key, { t: Date.now(), kind: "upload", endpoint, bytes }),
      });
      this.pools.set(id, p);
    }
    return p;
  }

  touch(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.jobs.size === 0 && this.clients === 0) {
      this.idleTimer = setTimeout(() => this.exit(), this.idleMs);
    }
  }

  private exit(): void {
    for (const p of this.pools.values()) p.close();
    this.server.close();
    process.exit(0);
  }

  handle(socket: net.Socket): void {
    this.clients++;
    this.touch();
    const attached: Job[] = [];
    socket.on("close", () => {
      this.clients--;
      this.touch();
    });
    socket.on("error", () => undefined);
    readLines(socket, (line) => {
      let req: AgentRequest;
      try {
        req = JSON.parse(line) as AgentRequest;
      } catch {
        return send(socket, { type: "done", ok: false, message: "cutover agent: unreadable request" });
      }
      if (req.op === "register") {
        const id = deployId(req.context.key, req.context.checkout);
        this.contexts.set(id, req.context);
        this.onces.set(id, new Map());
        // A new `up`: results of the last one's prefetch are not this one's.
        this.prefetched.delete(id);
        for (const job of this.unclaimed.keys()) if (job.startsWith(`${id}|`)) this.unclaimed.delete(job);
        const c = req.context;
        appendEvent(c.key, { t: Date.now(), kind: "deploy", key: c.key, release: c.release.id, hosts: c.hosts.length, deployer: c.deployer });
        return send(socket, { type: "done", ok: true });
      }
      if (req.op === "cancel") {
        for (const job of attached) job.cancelled = true;
        return;
      }
      if (req.op === "run") {
        const job = this.run(deployId(req.key, req.checkout), req.job, req.host, req.release, req.redeploy);
        attached.push(job);
        const listener = (reply: AgentReply) => send(socket, reply);
        job.replies.forEach(listener);
        job.listeners.add(listener);
        socket.on("close", () => job.listeners.delete(listener));
        return;
      }
    });
  }

  /**
   * Starts the job, or joins the same job already running (a retried step never runs twice) or
   * a prefetched prepare of this host.
   *
   * The first prepare step of a deploy starts the prepare of every host of the deploy at once:
   * Pulumi runs only `--parallel` steps at a time (8 on 2 cores), and each is a process of its
   * own, so on 16 hosts the uploads went in two waves behind the engine. The steps that follow
   * join their host's prepare, running or ended. Only prepare (probe, upload, unpack) is started
   * early: it switches nothing, and every host must have it before anything switches.
   */
  private run(deploy: string, name: JobName, host: string | undefined, release: string, redeploy?: string): Job {
    const id = jobId(deploy, name, host, release, redeploy);
    const joined = this.jobs.get(id) ?? this.claim(id);
    if (joined) return joined;
    const ctx = this.contexts.get(deploy);
    if (name === "prepare" && ctx && ctx.release.id === release && !this.prefetched.has(deploy)) {
      this.prefetched.add(deploy);
      for (const other of ctx.hosts) {
        const id = jobId(deploy, name, other.name, release);
        // A prepare of that host still running (an earlier registration's) is joined, not doubled.
        if (other.name !== host && !this.jobs.has(id)) this.start(id, deploy, name, other.name, release, true);
      }
      // The balancer's connection too, while the hosts prepare: else the first host's hide
      // would pay its handshake while that host is out of rotation. A failure here is the
      // hide's to report.
      const lb = ctx.loadBalancer;
      if (lb?.kind === "haproxy") this.pool(deploy, ctx.key).client(lb.host.ssh).catch(() => undefined);
    }
    return this.start(id, deploy, name, host, release, false, redeploy);
  }

  private claim(id: string): Job | undefined {
    const job = this.unclaimed.get(id);
    this.unclaimed.delete(id);
    return job;
  }

  private start(id: string, deploy: string, name: JobName, host: string | undefined, release: string, prefetch: boolean, redeploy?: string): Job {
    const ctx = this.contexts.get(deploy);
    const key = ctx?.key ?? deploy.split("|")[0];
    const job: Job = { listeners: new Set(), replies: [], cancelled: false, done: Promise.resolve() };
    const emit = (reply: AgentReply) => {
      job.replies.push(reply);
      job.listeners.forEach((l) => l(reply));
    };
    const fail = (message: string) => queueMicrotask(() => emit({ type: "done", ok: false, message }));
    if (!ctx) {
      fail(`cutover: deploy ${key} is not registered with the agent (the program registers it at the start of each \`pulumi up\`); run \`pulumi up\` again`);
      return job;
    }
    if (ctx.release.id !== release) {
      fail(`cutover: step for release ${release}, but the deploy registered release ${ctx.release.id}; run \`pulumi up\` again`);
      return job;
    }
    const pool = this.pool(deploy, key);
    const env: JobEnv = {
      ctx,
      pool,
      log: (stream, text) => emit({ type: "log", stream, text }),
      phase: (h: string, phase: Phase, detail?: string) => {
        const batch = ctx.batches.find((b) => b.hosts.includes(h))?.index;
        appendEvent(key, { t: Date.now(), kind: "phase", host: h, batch, phase, detail });
      },
    };
    const onces = this.onces.get(deploy) ?? new Map<string, Promise<unknown>>();
    const attachedAtStart: EarlyAttaches = new Map();
    const cycleEnv: CycleEnv = {
      ...env,
      ops: sshHostOps(ctx, pool, env.log, redeploy, attachedAtStart),
      slotOps: ctx.strategy === "overlap" ? sshSlotOps(ctx, pool, env.log, redeploy, attachedAtStart) : undefined,
      membership: membershipFor(ctx.loadBalancer, pool),
      cancelled: () => job.cancelled,
      once: <T>(k: string, work: () => Promise<T>) => {
        if (!onces.has(k)) onces.set(k, work());
        return onces.get(k) as Promise<T>;
      },
      started: <T>(k: string) => onces.get(k) as Promise<T> | undefined,
    };
    const work = name === "prepare" ? prepare(env, host!) : name === "migrate" ? migrate(env) : cycle(cycleEnv, host!).then(() => undefined);
    job.done = work.then(
      () => emit({ type: "done", ok: true }),
      (e: unknown) =>
        emit({
          type: "done",
          ok: false,
          message:
            e instanceof StepFailure
              ? e.message
              : `cutover: ${host ?? ctx.key}: ${name} failed: ${(e as Error).message}. ` +
                `Fix the cause (is ${host ?? "the host"} up and reachable over SSH?) and run \`pulumi up\` again: steps that finished are not repeated.`,
        }),
    );
    this.jobs.set(id, job);
    job.done.finally(() => {
      // maxRSS is in kilobytes: the agent's peak so far, which the benchmark reports per fleet size.
      appendEvent(key, { t: Date.now(), kind: "agent-memory", peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024) });
      this.jobs.delete(id);
      // Kept for its host's step, which has not asked yet (it is queued behind the engine).
      // Only a success: a prefetch runs before its host's own dependencies in the stack (a
      // fleet provisioned in the same `up`), and one that failed (web2's sshd not listening
      // yet: "Connection refused") is started again by its host's step, which comes once the
      // host is ready.
      const failed = job.replies.some((r) => r.type === "done" && !r.ok);
      if (prefetch && job.listeners.size === 0 && !failed) this.unclaimed.set(id, job);
      this.touch();
    });
    return job;
  }
}

const jobId = (deploy: string, name: JobName, host: string | undefined, release: string, redeploy?: string) =>
  `${deploy}|${name}|${host ?? ""}|${release}|${redeploy ?? ""}`;

/**
 * Runs the agent on `socketPath` until it has been idle (no connection: no program holding it,
 * no step) for a minute.
 */
export function serve(): void {
  const { socket } = agentPaths();
  const server = net.createServer();
  const agent = new Agent(server);
  server.on("connection", (s) => agent.handle(s));
  const listen = (retry: boolean) => {
    server.once("error", (err: NodeJS.ErrnoException) => {
      if (err.code !== "EADDRINUSE" || !retry) process.exit(1);
      // Another agent may be alive there; if nothing answers, the socket is stale.
      const probe = net.connect(socket);
      probe.once("connect", () => process.exit(0));
      probe.once("error", () => {
        fs.rmSync(socket, { force: true });
        listen(false);
      });
    });
    server.listen(socket, () => {
      fs.chmodSync(socket, 0o600);
      agent.touch();
    });
  };
  listen(true);
}

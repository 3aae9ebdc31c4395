/**
 * Test support for lib/runner (not exported from the library): a fleet without SSH. A fake
 * HostOps that plays each host's side of a cycle from a small model (its current and previous
 * release) or from answers a test scripts per host, and a fake Membership that keeps each
 * host's rotation as a balancer would. Both write every call, in order, to one shared log, so
 * a test can assert what happened relative to what ("hide web1" before "start web1 switch").
 */
import type { CycleEnv, HostOps } from "../cycle";
import type { DeployContext, HostContext } from "../context";
import type { Phase } from "../events";
import type { HideOptions, Membership, PriorState, Rotation } from "../membership";
import type { CycleProbe, JobOutcome } from "../../scripts/host-job";

export const TARGET = "2-new";
export const PREVIOUS = "1-old";

export function testHost(name: string, roles = ["web"]): HostContext {
  return {
    name,
    roles,
    root: "/srv/app",
    restartCommand: "true",
    app: { address: "127.0.0.1", port: 8080 },
    ssh: { address: "127.0.0.1", port: 22, user: "deploy", privateKey: "k", hostKey: "ssh-ed25519 AAAA" },
  };
}

/** A deploy of TARGET; `batches` lists the host names of each batch, in order. */
export function testContext(batches: string[][], over: Partial<DeployContext> = {}): DeployContext {
  return {
    key: "shop/prod/web",
    checkout: "/home/dev/shop",
    stack: "prod",
    deployer: "dev",
    release: { id: TARGET },
    hosts: batches.flat().map((n) => testHost(n)),
    batches: batches.map((hosts, i) => ({ index: i + 1, hosts, behindLoadBalancer: true })),
    checks: { web: { kind: "http", path: "/healthz", deadlineSeconds: 30 } },
    prepare: {},
    keepReleases: 3,
    restoreCycled: false,
    stableSeconds: 0,
    strategy: "cycle",
    warmSeconds: 0,
    minInRotation: 1,
    minInRotationByDefault: false,
    timeouts: { restart: 120, alive: 10, checkCommand: 30, install: 600, buildHook: 600, migration: 600, backup: 600, upload: 600 },
    ...over,
  };
}

/** Lets other pending work run, as a remote command would. */
const tick = () => new Promise<void>((r) => setImmediate(r));

/** `started: false`: the job never took the host lock (the host says "never"): nothing changed. */
export type AttachReply = { outcome?: JobOutcome; log: string; why?: string; started?: false };

interface FakeHost {
  current: string;
  previous?: string;
  /** Answers given before the model's own. */
  probes: CycleProbe[];
  /** Per start, in order: an error to throw (undefined: starts). */
  starts: Array<Error | undefined>;
  /** Per attach, in order: the reply (else the model's: the job does what its kind says, ok). */
  attaches: AttachReply[];
  watches: Array<{ ok: true } | { ok: false; reason: string }>;
  pruneError?: Error;
  /** A slow prune: it takes this many ticks and records `pruned <host>` when it ends. */
  pruneTicks?: number;
}

export class FakeHostOps implements HostOps {
  private readonly hosts = new Map<string, FakeHost>();
  private readonly jobs = new Map<string, { host: string; kind: "switch" | "restore" }>();
  private started = 0;

  constructor(
    readonly calls: string[],
    private readonly limitSeconds = 300,
  ) {}

  /** A host's model and script; every host starts on PREVIOUS. */
  host(name: string): FakeHost {
    let h = this.hosts.get(name);
    if (!h) {
      h = { current: PREVIOUS, probes: [], starts: [], attaches: [], watches: [] };
      this.hosts.set(name, h);
    }
    return h;
  }

  count(call: string): number {
    return this.calls.filter((c) => c === call).length;
  }

  async probe(h: HostContext): Promise<CycleProbe> {
    this.calls.push(`probe ${h.name}`);
    await tick();
    const s = this.host(h.name);
    return s.probes.shift() ?? (s.current === TARGET ? { state: "current" } : { state: "switch", was: s.current });
  }

  async start(h: HostContext, kind: "switch" | "restore"): Promise<string> {
    this.calls.push(`start ${h.name} ${kind}`);
    await tick();
    const error = this.host(h.name).starts.shift();
    if (error) throw error;
    const id = `job-${++this.started}`;
    this.jobs.set(id, { host: h.name, kind });
    return id;
  }

  async attach(h: HostContext, jobId: string): Promise<AttachReply> {
    this.calls.push(`attach ${h.name} ${jobId}`);
    await tick();
    const s = this.host(h.name);
    const reply = s.attaches.shift() ?? { outcome: { result: "ok" }, log: "" };
    const job = this.jobs.get(jobId);
    if (job && reply.outcome?.result === "ok") {
      if (job.kind === "switch") [s.previous, s.current] = [s.current, TARGET];
      else if (s.previous) [s.previous, s.current] = [undefined, s.previous];
    }
    return reply;
  }

  async watch(h: HostContext): Promise<{ ok: true } | { ok: false; reason: string }> {
    this.calls.push(`watch ${h.name}`);
    await tick();
    return this.host(h.name).watches.shift() ?? { ok: true };
  }

  async prune(h: HostContext): Promise<void> {
    this.calls.push(`prune ${h.name}`);
    await tick();
    const s = this.host(h.name);
    if (s.pruneTicks) {
      for (let i = 0; i < s.pruneTicks; i++) await tick();
      this.calls.push(`pruned ${h.name}`);
    }
    if (s.pruneError) throw s.pruneError;
  }

  jobLimitSeconds(): number {
    return this.limitSeconds;
  }
}

export class FakeMembership implements Membership {
  private readonly rotations = new Map<string, Rotation>();
  readonly hides: Array<{ host: string; options: HideOptions }> = [];
  readonly putBacks: Array<{ host: string; options: { was: PriorState; checked: boolean } }> = [];
  /** Per host: errors the next hides throw, in order. */
  readonly hideErrors = new Map<string, Error[]>();

  /**
   * `fronted`: the hosts behind the balancer (default: all). `guarded`: a hide leaves a guard
   * that readmits the host when its lease ends (HAProxy), or not (an AWS target group).
   */
  constructor(
    readonly calls: string[],
    private readonly fronted?: string[],
    readonly guarded = true,
  ) {}

  /** What the balancer says of the host now (default: in rotation, ready). */
  state(host: string): Rotation {
    return this.rotations.get(host) ?? { kind: "in", admin: "ready" };
  }

  set(host: string, rotation: Rotation): void {
    this.rotations.set(host, rotation);
  }

  fronts(h: HostContext): boolean {
    return this.fronted ? this.fronted.includes(h.name) : true;
  }

  async rotation(h: HostContext): Promise<Rotation> {
    this.calls.push(`rotation ${h.name}`);
    await tick();
    return this.state(h.name);
  }

  async hide(h: HostContext, options: HideOptions): Promise<void> {
    this.calls.push(`hide ${h.name}`);
    await tick();
    const e = this.hideErrors.get(h.name)?.shift();
    if (e) throw e;
    this.hides.push({ host: h.name, options });
    this.rotations.set(h.name, { kind: "cutover-hidden", was: options.was });
  }

  async putBack(h: HostContext, options: { was: PriorState; checked: boolean }): Promise<void> {
    this.calls.push(`putBack ${h.name} ${options.was} ${options.checked ? "checked" : "unchecked"}`);
    await tick();
    this.putBacks.push({ host: h.name, options });
    this.rotations.set(h.name, { kind: "in", admin: options.was });
  }
}

/** A CycleEnv over the fakes, with `once` shared as one registration of the agent shares it. */
export function testEnv(
  ctx: DeployContext,
  ops: HostOps,
  membership: Membership | undefined,
): CycleEnv & { logs: string[]; phases: Array<{ host: string; phase: Phase; detail?: string }>; cancel(): void } {
  const onces = new Map<string, Promise<unknown>>();
  let cancelled = false;
  const logs: string[] = [];
  const phases: Array<{ host: string; phase: Phase; detail?: string }> = [];
  return {
    ctx,
    ops,
    membership,
    logs,
    phases,
    log: (stream, text) => void logs.push(`${stream}: ${text}`),
    phase: (host, phase, detail) => void phases.push({ host, phase, detail }),
    cancelled: () => cancelled,
    cancel: () => void (cancelled = true),
    once<T>(key: string, work: () => Promise<T>): Promise<T> {
      if (!onces.has(key)) onces.set(key, work());
      return onces.get(key) as Promise<T>;
    },
    started: <T>(key: string) => onces.get(key) as Promise<T> | undefined,
  };
}

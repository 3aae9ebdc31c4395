/**
 * Test support for the overlap strategy (not exported from the library): hosts with two slots
 * and a balancer with a server per slot, as small models. FakeSlotOps plays the host side
 * (which release each slot runs, whether it passes), FakeSlotMembership the balancer (which
 * slot's server is in rotation, the responses it counted). Every call goes to one shared log.
 */
import type { HostContext } from "../context";
import type { Membership, PriorState, ResponseCounts, SlotServer } from "../membership";
import type { SlotOps } from "../overlap";
import type { CycleProbe, JobOutcome } from "../../scripts/host-job";
import type { SlotName, SlotsProbe } from "../../scripts/standby";
import { FakeHostOps, PREVIOUS, TARGET } from "./fakes";

const tick = () => new Promise<void>((r) => setImmediate(r));

interface SlotHost {
  current: string;
  runs: Record<SlotName, string | undefined>;
  serving: SlotName;
  /** Per standby job, in order: the outcome (else: ok, warm when the slot already ran it). */
  outcomes: JobOutcome[];
  watches: Array<{ ok: true } | { ok: false; reason: string }>;
}

/** Host ops of the overlap strategy; the cycle's own HostOps (attach, prune) come from FakeHostOps. */
export class FakeSlotOps extends FakeHostOps implements SlotOps {
  private readonly slotHosts = new Map<string, SlotHost>();
  private readonly slotJobs = new Map<string, { host: string; slot: SlotName; release: string }>();
  private slotJobCount = 0;
  /** The release the deploy under test targets (a rollback: the one before). */
  target = TARGET;

  constructor(readonly calls: string[]) {
    super(calls);
  }

  /** Every host starts on PREVIOUS in slot a, slot b stopped. */
  slotHost(name: string): SlotHost {
    let h = this.slotHosts.get(name);
    if (!h) this.slotHosts.set(name, (h = { current: PREVIOUS, runs: { a: PREVIOUS, b: undefined }, serving: "a", outcomes: [], watches: [] }));
    return h;
  }

  async probeSlots(h: HostContext): Promise<{ probe: CycleProbe; slots: SlotsProbe }> {
    this.calls.push(`probe ${h.name}`);
    await tick();
    const s = this.slotHost(h.name);
    const passes = (slot: SlotName) => s.runs[slot] === this.target;
    return {
      probe: s.current === this.target ? { state: "current" } : { state: "switch", was: s.current },
      slots: { serving: s.serving, a: { release: s.runs.a, passes: passes("a") }, b: { release: s.runs.b, passes: passes("b") } },
    };
  }

  async startInSlot(h: HostContext, slot: SlotName, release: string): Promise<string> {
    this.calls.push(`start ${h.name} ${slot} ${release}`);
    await tick();
    const id = `slot-job-${++this.slotJobCount}`;
    this.slotJobs.set(id, { host: h.name, slot, release });
    return id;
  }

  override async attach(h: HostContext, jobId: string) {
    const job = this.slotJobs.get(jobId);
    if (!job) return super.attach(h, jobId);
    this.calls.push(`attach ${h.name} ${jobId}`);
    await tick();
    const s = this.slotHost(h.name);
    const warm = s.runs[job.slot] === job.release;
    const outcome: JobOutcome = s.outcomes.shift() ?? (warm ? { result: "ok", warm: true } : { result: "ok" });
    if (outcome.result === "ok") {
      if (!warm) this.calls.push(`restart ${h.name} ${job.slot}`);
      s.runs[job.slot] = job.release;
      s.current = job.release;
    }
    return { outcome, log: "" };
  }

  async watchSlot(h: HostContext, slot: SlotName) {
    this.calls.push(`watch ${h.name} ${slot}`);
    await tick();
    return this.slotHost(h.name).watches.shift() ?? { ok: true as const };
  }

  async settle(h: HostContext, serving: SlotName): Promise<void> {
    this.calls.push(`settle ${h.name} ${serving}`);
    await tick();
    this.slotHost(h.name).serving = serving;
  }
}

/** A balancer with a server per slot: slot a in rotation at first, b idle (maint, ours). */
export class FakeSlotMembership implements Membership {
  readonly guarded = true;
  private readonly inRotation = new Map<string, SlotName>();
  /** Responses counted per host and slot; a test adds to them. */
  readonly counts = new Map<string, ResponseCounts>();
  /** Called on every `responses` read, to let a test's traffic arrive between reads. */
  onRead: (host: string, slot: SlotName) => void = () => undefined;

  constructor(readonly calls: string[]) {}

  fronts(): boolean {
    return true;
  }

  serving(host: string): SlotName {
    return this.inRotation.get(host) ?? "a";
  }

  async rotation(): Promise<never> {
    throw new Error("the overlap strategy reads both servers (slots.servers), not rotation()");
  }

  async hide(h: HostContext): Promise<void> {
    this.calls.push(`hide ${h.name}`);
  }

  async putBack(h: HostContext): Promise<void> {
    this.calls.push(`putBack ${h.name}`);
  }

  async responses(h: HostContext, slot: SlotName = "a"): Promise<ResponseCounts> {
    this.onRead(h.name, slot);
    return this.counts.get(`${h.name}/${slot}`) ?? { total: 0, serverErrors: 0 };
  }

  readonly slots = {
    servers: async (h: HostContext): Promise<Record<SlotName, SlotServer>> => {
      this.calls.push(`servers ${h.name}`);
      await tick();
      const on = this.serving(h.name);
      const server = (slot: SlotName): SlotServer =>
        slot === on ? { inRotation: true, admin: "ready", ours: false, status: "UP" } : { inRotation: false, admin: "ready", ours: true, status: "MAINT" };
      return { a: server("a"), b: server("b") };
    },
    move: async (h: HostContext, o: { to: SlotName; from?: SlotName; was: PriorState }): Promise<void> => {
      this.calls.push(`move ${h.name} ${o.from ?? "-"}->${o.to}`);
      await tick();
      this.inRotation.set(h.name, o.to);
    },
  };
}

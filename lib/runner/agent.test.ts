// The agent (agent.ts) over a real unix socket in a temp dir, spoken to with the steps' own
// client (client.ts `request`). The work behind a job is faked: prepare, migrate and cycle are
// replaced by deferred promises the test ends, so what is asserted is the agent's own part —
// which requests share one job, the prefetch of prepares and who claims it, which registration
// a step runs under, cancel, the step's final message, the idle exit. Not reached here: the SSH
// side (sshHostOps, the membership over a pooled connection, the balancer's pre-dial, which
// needs an SSH server), and serve() (the socket's place and a stale socket; it calls
// process.exit).
import { EventEmitter } from "node:events";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

const fake = vi.hoisted(() => {
  // Read by agent.ts when it loads: no idle exit during a test (one test drives it by hand).
  process.env.CUTOVER_AGENT_IDLE_MS = "3600000";
  return { prepare: vi.fn(), migrate: vi.fn(), cycle: vi.fn() };
});
vi.mock("./jobs", () => ({ prepare: fake.prepare, migrate: fake.migrate }));
vi.mock("./cycle", async (original) => ({ ...(await original<typeof import("./cycle")>()), cycle: fake.cycle }));

import { Agent } from "./agent";
import { request } from "./client";
import { StepFailure } from "./cycle";
import type { CycleEnv } from "./cycle";
import { latestDeployEvents, summarize } from "./events";
import type { JobEnv } from "./jobs";
import { agentPaths } from "./protocol";
import type { AgentReply, AgentRequest } from "./protocol";
import { registerDeploy } from "./register";
import { TARGET, testContext } from "./testing/fakes";

/** One piece of faked work: its env, and how the test ends it. */
interface Work<E> {
  name: string;
  host?: string;
  env: E;
  resolve(): void;
  reject(e: Error): void;
}

let works: Array<Work<JobEnv & Partial<CycleEnv>>>;
let dir: string;
let server: net.Server;
let socketPath: string;
const sockets: net.Socket[] = [];

function track(name: string) {
  return (env: JobEnv & Partial<CycleEnv>, host?: string) =>
    new Promise<void>((resolve, reject) => works.push({ name, host: typeof host === "string" ? host : undefined, env, resolve, reject }));
}

beforeEach(async () => {
  works = [];
  fake.prepare.mockReset().mockImplementation(track("prepare"));
  fake.migrate.mockReset().mockImplementation(track("migrate"));
  fake.cycle.mockReset().mockImplementation(track("cycle"));
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-agent-test-"));
  process.env.CUTOVER_CACHE = path.join(dir, "cache");
  socketPath = path.join(dir, "agent.sock");
  server = net.createServer();
  const agent = new Agent(server);
  server.on("connection", (s) => agent.handle(s));
  await new Promise<void>((r) => server.listen(socketPath, r));
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
  fs.rmSync(dir, { recursive: true, force: true });
});

async function connect(): Promise<net.Socket> {
  const s = net.connect(socketPath);
  sockets.push(s);
  await new Promise<void>((resolve, reject) => s.once("connect", resolve).once("error", reject));
  return s;
}

/** A step: one request on a connection of its own; its log lines and its final reply. */
function step(req: AgentRequest) {
  const logs: string[] = [];
  const socket = connect();
  const done = socket.then((s) => request(s, req, (r: AgentReply) => r.type === "log" && logs.push(r.text)));
  // A step a test leaves running is cut off when the test ends: not an error of the test.
  done.catch(() => undefined);
  return { logs, done, socket };
}

const register = (over: Parameters<typeof testContext>[1] = {}, batches = [["web1", "web2", "web3"]]) =>
  step({ op: "register", context: testContext(batches, over) }).done;

const run = (job: "prepare" | "migrate" | "cycle", host: string | undefined, over: Partial<Extract<AgentRequest, { op: "run" }>> = {}) =>
  step({ op: "run", key: "shop/prod/web", checkout: "/home/dev/shop", job, host, release: TARGET, ...over });

/** Waits until faked work matching `name` (and `host`) has been started, and returns it. */
async function started(name: string, host?: string, nth = 0) {
  let w: Work<JobEnv & Partial<CycleEnv>> | undefined;
  await vi.waitFor(() => {
    w = works.filter((x) => x.name === name && (host === undefined || x.host === host))[nth];
    expect(w).toBeDefined();
  });
  return w!;
}

const startsOf = (name: string, host?: string) => works.filter((w) => w.name === name && (host === undefined || w.host === host)).length;

describe("registration", () => {
  it("answers done and starts the deploy's record in the event log", async () => {
    await expect(register()).resolves.toEqual({ type: "done", ok: true });
    expect(latestDeployEvents("shop/prod/web")).toEqual([expect.objectContaining({ kind: "deploy", key: "shop/prod/web", release: TARGET, hosts: 3, deployer: "dev" })]);
  });

  it("a step of a deploy never registered, or of another release, fails saying to run `pulumi up` again", async () => {
    const unregistered = await run("cycle", "web1").done;
    expect(unregistered).toEqual({
      type: "done",
      ok: false,
      message:
        "cutover: deploy shop/prod/web is not registered with the agent (the program registers it at the start of each `pulumi up`); run `pulumi up` again",
    });
    await register();
    const other = await run("cycle", "web1", { release: "3-other" }).done;
    expect(other.message).toBe("cutover: step for release 3-other, but the deploy registered release 2-new; run `pulumi up` again");
    expect(fake.cycle).not.toHaveBeenCalled();
  });

  it("an unreadable request is answered, not fatal", async () => {
    const s = await connect();
    const reply = new Promise<string>((r) => s.once("data", (d) => r(d.toString())));
    s.write("{not json\n");
    expect(JSON.parse(await reply)).toEqual({ type: "done", ok: false, message: "cutover agent: unreadable request" });
  });
});

describe("a retried step", () => {
  it("joins the job still running: one job for two requests, and each gets every reply", async () => {
    await register();
    const first = run("cycle", "web1");
    const w = await started("cycle", "web1");
    w.env.log("stdout", "cutover[web1] hide\n");
    const retry = run("cycle", "web1");
    await vi.waitFor(() => expect(retry.logs).toEqual(["cutover[web1] hide\n"]));
    w.env.log("stdout", "cutover[web1] switch\n");
    w.resolve();
    expect(await first.done).toEqual({ type: "done", ok: true });
    expect(await retry.done).toEqual({ type: "done", ok: true });
    expect(first.logs).toEqual(["cutover[web1] hide\n", "cutover[web1] switch\n"]);
    expect(retry.logs).toEqual(first.logs);
    expect(fake.cycle).toHaveBeenCalledTimes(1);
  });

  it("whose first process died (its connection closed): the job runs on, and the retry gets its end", async () => {
    await register();
    const first = run("cycle", "web1");
    const w = await started("cycle", "web1");
    (await first.socket).destroy();
    await expect(first.done).rejects.toThrow("the deploy agent went away");
    const retry = run("cycle", "web1");
    w.env.log("stdout", "cutover[web1] in rotation\n");
    await vi.waitFor(() => expect(retry.logs).toEqual(["cutover[web1] in rotation\n"]));
    w.resolve();
    expect(await retry.done).toEqual({ type: "done", ok: true });
    expect(fake.cycle).toHaveBeenCalledTimes(1);
  });

  it("after the job ended starts it again (a cycle is idempotent on the host)", async () => {
    await register();
    const first = run("cycle", "web1");
    (await started("cycle", "web1")).resolve();
    await first.done;
    const again = run("cycle", "web1");
    (await started("cycle", "web1", 1)).resolve();
    expect(await again.done).toEqual({ type: "done", ok: true });
    expect(fake.cycle).toHaveBeenCalledTimes(2);
  });

  it("with another redeploy nonce is another job", async () => {
    await register();
    const a = run("cycle", "web1");
    const b = run("cycle", "web1", { redeploy: "2026-12-01" });
    await started("cycle", "web1", 1);
    for (const w of works) w.resolve();
    await Promise.all([a.done, b.done]);
    expect(fake.cycle).toHaveBeenCalledTimes(2);
  });
});

describe("the prefetch of prepares", () => {
  it("the first prepare step starts every host's prepare once; a later step claims its host's, ended or running", async () => {
    await register();
    const p1 = run("prepare", "web1");
    await vi.waitFor(() => expect(works.map((w) => w.host).sort()).toEqual(["web1", "web2", "web3"]));
    // web2's ends before its step asks (queued behind the engine): its output is kept for it.
    const w2 = await started("prepare", "web2");
    w2.env.log("stdout", "cutover[web2] uploaded 2-new\n");
    w2.resolve();
    await new Promise((r) => setImmediate(r));
    const p2 = run("prepare", "web2");
    expect(await p2.done).toEqual({ type: "done", ok: true });
    expect(p2.logs).toEqual(["cutover[web2] uploaded 2-new\n"]);
    // web3's is still running: its step joins it.
    const w3 = await started("prepare", "web3");
    w3.env.log("stdout", "cutover[web3] uploading 2-new\n");
    const p3 = run("prepare", "web3");
    await vi.waitFor(() => expect(p3.logs).toEqual(["cutover[web3] uploading 2-new\n"]));
    w3.resolve();
    (await started("prepare", "web1")).resolve();
    expect(await p3.done).toEqual({ type: "done", ok: true });
    expect(await p1.done).toEqual({ type: "done", ok: true });
    expect(fake.prepare).toHaveBeenCalledTimes(3);
  });

  it("a prefetched prepare that failed before its host's step asked is started again by that step (the host was not ready yet)", async () => {
    await register();
    run("prepare", "web1");
    const w2 = await started("prepare", "web2");
    w2.reject(new StepFailure("cutover: web2: gateway cannot open a channel to web2: Connection refused"));
    await new Promise((r) => setImmediate(r));
    const step = run("prepare", "web2");
    (await started("prepare", "web2", 1)).resolve();
    expect(await step.done).toEqual({ type: "done", ok: true });
    expect(startsOf("prepare", "web2")).toBe(2);
  });

  it("a new registration (a new `up`) does not hand out the last one's ended prefetch", async () => {
    await register();
    const p1 = run("prepare", "web1");
    (await started("prepare", "web2")).resolve();
    (await started("prepare", "web3")).resolve();
    (await started("prepare", "web1")).resolve();
    await p1.done;
    await register();
    const p2 = run("prepare", "web2");
    await vi.waitFor(() => expect(startsOf("prepare", "web2")).toBe(2));
    for (const w of works) w.resolve();
    expect(await p2.done).toEqual({ type: "done", ok: true });
  });

  it("a new registration's prefetch joins a prepare of the last one still running rather than starting it twice", async () => {
    // Ctrl-C and `pulumi up` again while web1 still uploads: the new up's first prepare step
    // (web2, whose last prefetch ended) prefetches every other host. Actual: a second prepare
    // of web1 starts beside the running one (it replaces it in the agent's table), and on the
    // host it is refused by the lock the first holds, failing web1's step of the new up.
    await register();
    run("prepare", "web1");
    (await started("prepare", "web2")).resolve();
    (await started("prepare", "web3")).resolve();
    await started("prepare", "web1");
    await register();
    run("prepare", "web2");
    await vi.waitFor(() => expect(startsOf("prepare", "web2")).toBe(2));
    expect(startsOf("prepare", "web1")).toBe(1);
  });

  it("only prepare is started early: a cycle step starts nothing for other hosts", async () => {
    await register();
    run("cycle", "web1");
    await started("cycle", "web1");
    await new Promise((r) => setTimeout(r, 20));
    expect(works.map((w) => `${w.name} ${w.host}`)).toEqual(["cycle web1"]);
  });
});

describe("two checkouts with the same deploy key", () => {
  it("keep their own contexts: a step runs under its checkout's registration, with `once` of its own", async () => {
    await register({ checkout: "/home/dev/shop" });
    await register({ checkout: "/home/dev/shop-copy", minInRotation: 2 });
    const a = run("cycle", "web1", { checkout: "/home/dev/shop" });
    const b = run("cycle", "web1", { checkout: "/home/dev/shop-copy" });
    const wa = await started("cycle", "web1", 0);
    const wb = await started("cycle", "web1", 1);
    const byCheckout = Object.fromEntries([wa, wb].map((w) => [w.env.ctx.checkout, w.env]));
    expect(byCheckout["/home/dev/shop"].ctx.minInRotation).toBe(1);
    expect(byCheckout["/home/dev/shop-copy"].ctx.minInRotation).toBe(2);
    let peerCycles = 0;
    const peer = () => Promise.resolve(++peerCycles);
    await wa.env.once!("forward|web0", peer);
    await wb.env.once!("forward|web0", peer);
    expect(peerCycles).toBe(2);
    wa.resolve();
    wb.resolve();
    await Promise.all([a.done, b.done]);
    expect(fake.cycle).toHaveBeenCalledTimes(2);
  });

  it("a checkout never registered is not served by the other's context", async () => {
    await register({ checkout: "/home/dev/shop" });
    const r = await run("cycle", "web1", { checkout: "/home/dev/elsewhere" }).done;
    expect(r.ok).toBe(false);
    expect(r.message).toContain("is not registered with the agent");
  });
});

describe("steps of one registration", () => {
  it("share `once` (restoreCycled's peer cycles); a new registration starts afresh", async () => {
    await register({}, [["web0"], ["web1", "web2"]]);
    run("cycle", "web1");
    run("cycle", "web2");
    const w1 = await started("cycle", "web1");
    const w2 = await started("cycle", "web2");
    let peerCycles = 0;
    const peer = () => Promise.resolve(++peerCycles);
    await Promise.all([w1.env.once!("forward|web0", peer), w2.env.once!("forward|web0", peer)]);
    expect(peerCycles).toBe(1);
    w1.resolve();
    w2.resolve();
    await register({}, [["web0"], ["web1", "web2"]]);
    run("cycle", "web1");
    const w3 = await started("cycle", "web1", 1);
    await w3.env.once!("forward|web0", peer);
    expect(peerCycles).toBe(2);
    w3.resolve();
  });

  it("record their phases in the event log with the host's batch", async () => {
    await register({}, [["web0"], ["web1"]]);
    run("cycle", "web1");
    const w = await started("cycle", "web1");
    w.env.phase("web1", "hide");
    expect(latestDeployEvents("shop/prod/web").filter((e) => e.kind === "phase")).toEqual([expect.objectContaining({ host: "web1", batch: 2, phase: "hide" })]);
    w.resolve();
  });

  it("record the agent's peak memory as each ends, which the deploy's summary reports", async () => {
    await register();
    const s = run("cycle", "web1");
    (await started("cycle", "web1")).resolve();
    await s.done;
    const rss = summarize(latestDeployEvents("shop/prod/web")).agentRssMB;
    // This process's own peak, as the kernel reports it: a test runner takes tens of MB at least.
    expect(rss).toBeGreaterThan(20);
    expect(rss).toBeLessThan(4096);
  });
});

describe("cancel", () => {
  it("marks the jobs attached on that connection cancelled, and no other", async () => {
    await register();
    const a = run("cycle", "web1");
    run("cycle", "web2");
    const w1 = await started("cycle", "web1");
    const w2 = await started("cycle", "web2");
    expect(w1.env.cancelled!()).toBe(false);
    (await a.socket).write(`${JSON.stringify({ op: "cancel" })}\n`);
    await vi.waitFor(() => expect(w1.env.cancelled!()).toBe(true));
    expect(w2.env.cancelled!()).toBe(false);
    // The step still gets its job's end (the cycle finishes what is safe).
    w1.resolve();
    expect(await a.done).toEqual({ type: "done", ok: true });
  });
});

describe("a step's final message", () => {
  it("a StepFailure's message as it is", async () => {
    await register();
    const s = run("cycle", "web1");
    (await started("cycle", "web1")).reject(new StepFailure("cutover: web1 (batch 1) did not switch to 2-new: smoke test failed. …"));
    expect(await s.done).toEqual({ type: "done", ok: false, message: "cutover: web1 (batch 1) did not switch to 2-new: smoke test failed. …" });
  });

  it("any other error: names host and step, asks whether the host is reachable, and says to run `pulumi up` again", async () => {
    await register();
    const s = run("cycle", "web1");
    (await started("cycle", "web1")).reject(new Error("cannot reach deploy@127.0.0.1:22: connect ECONNREFUSED"));
    expect((await s.done).message).toBe(
      "cutover: web1: cycle failed: cannot reach deploy@127.0.0.1:22: connect ECONNREFUSED. " +
        "Fix the cause (is web1 up and reachable over SSH?) and run `pulumi up` again: steps that finished are not repeated.",
    );
  });

  it("a migration step runs the deploy's migration", async () => {
    await register({ migration: { host: "web1", command: "bin/migrate" } });
    const s = run("migrate", undefined);
    const w = await started("migrate");
    expect(w.env.ctx.migration).toEqual({ host: "web1", command: "bin/migrate" });
    w.resolve();
    expect(await s.done).toEqual({ type: "done", ok: true });
  });
});

describe("idle exit", () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it("exits after its idle time with no connection and no job, and not while a step is connected", () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const exit = vi.spyOn(process, "exit").mockImplementation(() => undefined as never);
    const close = vi.fn();
    const agent = new Agent({ close } as unknown as net.Server);
    const socket = Object.assign(new EventEmitter(), { destroyed: false, write: vi.fn() }) as unknown as net.Socket;
    agent.touch();
    agent.handle(socket);
    vi.advanceTimersByTime(2 * 3_600_000);
    expect(exit).not.toHaveBeenCalled();
    socket.emit("close");
    vi.advanceTimersByTime(3_600_000 - 1);
    expect(exit).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(close).toHaveBeenCalled();
    expect(exit).toHaveBeenCalledWith(0);
  });
});

describe("the program's held connection", () => {
  it("waits while the program holds its connection (an `up` whose first step comes minutes later), and comes once it closes", async () => {
    process.env.CUTOVER_AGENT_DIR = path.join(dir, "agent");
    const exit = vi.spyOn(process, "exit").mockImplementation((() => undefined) as never);
    const idle = new net.Server();
    const agent = new Agent(idle, 200);
    idle.on("connection", (s) => agent.handle(s));
    try {
      await new Promise<void>((r) => idle.listen(agentPaths().socket, r));
      const hold = await registerDeploy(testContext([["web1"]]));
      // Five idle limits with no step: the held connection alone keeps the agent.
      await new Promise((r) => setTimeout(r, 1000));
      expect(exit).not.toHaveBeenCalled();
      hold.destroy();
      await vi.waitFor(() => expect(exit).toHaveBeenCalledWith(0), { timeout: 2000 });
    } finally {
      exit.mockRestore();
      delete process.env.CUTOVER_AGENT_DIR;
      idle.close();
    }
  });
});

// Faults between the agent, SSH and the balancer, on the real engine, a local fleet and wrk
// through HAProxy. The app stack reaches the fleet stack's servers as existing servers
// (`cutover:provider: ssh`, inline inventory), so its restart command can be the fleet's own
// wrapped with per-host switches (flag files in shared/log): a restart that hangs once, a
// restart that leaves a background process behind. After every fault: each host serves one
// release, no host is UP while its app does not answer (0 failed requests), no lock is left,
// a host an operator took out stays out, and a plain `pulumi up` converges.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Stack } from "@pulumi/pulumi/automation";
import { TempProject, repoRoot, requireEngine, stackOnSharedBackend, tearDownStacks } from "./support/engine";
import { E2E_LOAD, FleetAccess, backendStatus, descendants, fleetAccess, processes, servedRelease } from "./support/fleet";
import { LoadResult, RunningLoad, startLoad } from "../stacks/load";
import { DeployEvent, eventLogPath } from "../lib/runner/events";
import { sh } from "../lib/scripts/quote";

const fleetStack = "rfleet";
const appStack = "rapp";
const baseDir = "/var/lib/cutover/test-fleets";
const fleetDir = `${baseDir}/${fleetStack}`;
const subnet = "127.97.0";
const hosts = ["web1", "web2", "web3", "web4"];
const lbUrl = `http://${subnet}.2:8080/`;
const adminSocket = `${fleetDir}/lb/haproxy/admin.sock`;
const appDir = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-runner-faults-app-"));
const key = `cutover/${appStack}/app`;
const rootOf = (h: string) => `${fleetDir}/${h}/app`;
const flag = (h: string, name: string) => `${rootOf(h)}/shared/log/${name}`;

/** The fleet's restart, with two switches a test flips per host (the restart runs in the deploy root). */
const wrapRestart = (restart: string) =>
  `if [ -e shared/log/hang-restart ]; then rm -f shared/log/hang-restart; sleep 3600; fi; ${restart}; ` +
  "if [ -e shared/log/bg-restart ]; then sleep 600 >/dev/null 2>&1 & fi";

/** The limits of the tests that wait for a restart's limit or a guard's lease (see configure). */
const short = { restart: 6, alive: 3 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function events(since: number): DeployEvent[] {
  if (!fs.existsSync(eventLogPath(key))) return [];
  return fs
    .readFileSync(eventLogPath(key), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as DeployEvent)
    .filter((e) => e.t >= since);
}

/** SIGKILL, unless the process ended since it was listed (a session closing on its own: ESRCH). */
function killIfAlive(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
  }
}

function agentPids(): number[] {
  return processes().filter((p) => p.cmdline.includes("runner/agent-main.js")).map((p) => p.pid);
}

interface Rollout {
  batchSize?: number;
  stableSeconds?: number;
  restoreCycled?: boolean;
  minInRotation?: number;
}

describe("runner faults: host work survives its connection, put back only when known good", () => {
  const projects: TempProject[] = [];
  const loads: RunningLoad[] = [];
  let fleet: Stack;
  let app: Stack;
  let access: FleetAccess;
  const ids: Record<string, string> = {};

  const stackOf = (name: string, config: Record<string, unknown>) => stackOnSharedBackend(projects, name, config);

  async function configure(version: string, rollout: Rollout = {}, extra: Record<string, unknown> = {}): Promise<void> {
    fs.writeFileSync(path.join(appDir, "VERSION"), `${version}\n`);
    const config = {
      source: appDir,
      version,
      prepare: { linkedDirs: ["log"] },
      deployer: "runner-faults",
      // Above the program's stopwaitsecs (15 s): the restore after a crash meets supervisord's
      // own autorestart of it, and under load that stop once took more than 6 s (a CI run). The
      // hung-restart and guard tests set 6 s, to keep their limit and lease short.
      timeouts: { restart: 20, alive: 3 },
      // Two hosts a batch keeps the file's many deploys short; web1 is always in the first.
      rollout: { batchSize: rollout.batchSize ?? 2, smoke: { path: "/healthz", deadlineSeconds: 5 }, stableSeconds: rollout.stableSeconds ?? 1, ...rollout },
      ...extra,
    };
    await app.setConfig("cutover:app", { value: JSON.stringify(config) });
  }

  /** `pulumi up` as a user runs it (killable), under wrk load; the CLI's output and exit code. */
  function upUnderLoad(during?: (since: number) => Promise<void>): Promise<{ code: number; output: string; load: LoadResult; since: number }> {
    const running = startLoad(lbUrl, { ...E2E_LOAD, maxSeconds: 300 });
    loads.push(running);
    const since = Date.now();
    const project = projects[1];
    const child = spawn("pulumi", ["up", "--yes", "--skip-preview", "--stack", appStack, "--non-interactive", "--color", "never"], {
      cwd: project.dir,
      env: { ...process.env, ...projects[0].envVars },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number>((resolve) => child.on("close", (code) => resolve(code ?? -1)));
    return (async () => {
      // The fault's own failure is reported only once `pulumi up` has exited: a test that
      // failed while it ran once left it holding the stack lock, and every later test failed.
      const [, fault] = await Promise.allSettled([exited, during?.(since)]);
      if (fault.status === "rejected") {
        await running.stop();
        throw fault.reason;
      }
      const load = await running.stop();
      const code = await exited;
      console.log(`[runner-faults] up exit ${code}: ${load.requests} requests, ${load.failed} failed`);
      return { code, output, load, since };
    })();
  }

  async function waitFor(what: string, ok: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await ok()) return;
      await sleep(50);
    }
    throw new Error(`${what}: not within ${timeoutMs} ms`);
  }

  const phaseSeen = (host: string, phase: string, since: number) => () => events(since).some((e) => e.kind === "phase" && e.host === host && e.phase === phase);
  const served = (h: string) => servedRelease(access, subnet, hosts, h);
  const status = () => backendStatus(access, adminSocket, "web");
  const lockFree = async (h: string) => (await access.run(h, sh`flock -n ${`${rootOf(h)}/.cutover/deploy.lock`} true`)).code === 0;
  const activations = async (h: string) =>
    (await access.must(h, sh`cat ${`${rootOf(h)}/.cutover/history.log`}`)).split("\n").filter(Boolean).map((l) => JSON.parse(l) as { action: string; release: string });
  const hap = (command: string) => access.must("lb", sh`echo ${command} | socat stdio ${`unix-connect:${adminSocket}`}`);

  /** Every host on `id` and UP, every lock free. */
  async function settledOn(id: string): Promise<void> {
    for (const h of hosts) expect(await served(h), h).toBe(id);
    await waitFor("every web host UP", async () => Object.values(await status()).every((s) => s === "UP"), 30_000);
    for (const h of hosts) expect(await lockFree(h), `${h}'s lock`).toBe(true);
  }

  async function deployed(version: string): Promise<string> {
    const r = await upUnderLoad();
    expect(r.code, r.output).toBe(0);
    expect(r.load.failed).toBe(0);
    ids[version] = ((await app.outputs()).releaseId.value as string) ?? "";
    await settledOn(ids[version]);
    return ids[version];
  }

  beforeAll(async () => {
    requireEngine();
    // Switches a run that was stopped half-way may have left on a reused fleet.
    for (const h of hosts) for (const f of ["hang-restart", "bg-restart", "broken"]) fs.rmSync(flag(h, f), { force: true });
    fs.cpSync(path.join(repoRoot, "stacks", "sample-app"), appDir, { recursive: true });
    fleet = await stackOf(fleetStack, {
      "cutover:provider": "local",
      "cutover:fleet": { subnet, baseDir, hosts: hosts.map((name) => ({ name, roles: ["web"] })), appEnvironment: { START_DELAY_MS: "1000" } },
    });
    const out = (await fleet.up()).outputs;
    access = fleetAccess(out);
    const inventory = out.inventory.value as { hosts: Array<{ service: { restartCommand: string } }> };
    for (const h of inventory.hosts) h.service.restartCommand = wrapRestart(h.service.restartCommand);
    app = await stackOf(appStack, { "cutover:provider": "ssh", "cutover:inventory": inventory });
    await app.setConfig("cutover:sshPrivateKey", { value: out.deployKey.value as string, secret: true });
    // The first start of a host's app (supervisord had nothing to run until now) gets the
    // default limit.
    await configure("1", {}, { timeouts: { restart: 120, alive: 3 } });
    const up = await app.up();
    ids["1"] = up.outputs.releaseId.value as string;
    await settledOn(ids["1"]);
  }, 600_000);

  afterAll(async () => {
    await Promise.all(loads.map((l) => l.stop().catch(() => undefined)));
    await Promise.all(hosts.map((h) => access?.run(h, "pkill -x sleep || true").catch(() => undefined)));
    await tearDownStacks([app, fleet], projects);
    fs.rmSync(appDir, { recursive: true, force: true });
  }, 600_000);

  it("web1's SSH session killed mid-switch: the job finishes on the host, the agent dials again and puts web1 back; 0 failed", async () => {
    await configure("2");
    const sshd = Number(fs.readFileSync(`${fleetDir}/web1/ssh/sshd.pid`, "utf8").trim());
    const r = await upUnderLoad(async (since) => {
      await waitFor("web1's job to start", phaseSeen("web1", "switch", since), 120_000);
      const killed = descendants(sshd);
      for (const pid of killed) killIfAlive(pid);
      console.log(`[runner-faults] killed web1's ${killed.length} sshd session process(es) mid-switch`);
    });
    expect(r.code, r.output).toBe(0);
    expect(r.load.failed).toBe(0);
    // The drop is seen when it happens, not when the running command's limit (50 s for the
    // start) runs out: a killed session once kept web1 hidden 52 s.
    const at = (phase: string) => events(r.since).find((e) => e.kind === "phase" && e.host === "web1" && e.phase === phase)!.t;
    const hidden = (at("in-rotation") - at("hidden")) / 1000;
    console.log(`[runner-faults] web1 out of rotation ${hidden.toFixed(1)} s with its session killed mid-switch`);
    // What the deploy said of web1, and web1's timeline, for a failure to be read from CI's log.
    const web1Said = r.output.split("\n").filter((l) => l.includes("web1")).join("\n");
    const timeline = events(r.since).filter((e) => e.kind !== "phase" || e.host === "web1").map((e) => `${((e.t - r.since) / 1000).toFixed(1)} ${JSON.stringify(e)}`).join("\n");
    expect(hidden, `${web1Said}\n${timeline}`).toBeLessThan(30);
    ids["2"] = (await app.outputs()).releaseId.value as string;
    await settledOn(ids["2"]);
  }, 300_000);

  it("web1's SSH session killed between deploys: the next up dials web1 again and completes", async () => {
    const sshd = Number(fs.readFileSync(`${fleetDir}/web1/ssh/sshd.pid`, "utf8").trim());
    for (const pid of descendants(sshd)) killIfAlive(pid);
    await configure("3");
    await deployed("3");
  }, 300_000);

  it("the agent SIGKILLed while web1 is out of rotation: the job finishes, the balancer's guard readmits web1 once its app answers; up converges", async () => {
    await configure("4", {}, { timeouts: short });
    const r = await upUnderLoad(async (since) => {
      await waitFor("web1's job to start", phaseSeen("web1", "switch", since), 120_000);
      for (const pid of agentPids()) killIfAlive(pid);
    });
    expect(r.code).not.toBe(0);
    expect(r.output).toContain("the deploy agent went away before the step finished");
    expect(r.load.failed).toBe(0);
    // Nobody runs `up`: the guard on the LB host readmits web1 when its lease ends, unchecked
    // (weight 0 until HAProxy's own check has run), while wrk keeps asking.
    const watching = startLoad(lbUrl, { ...E2E_LOAD, maxSeconds: 200 });
    loads.push(watching);
    const t0 = Date.now();
    // The guard's line is its last act: HAProxy shows web1 UP (at weight 0) a few seconds
    // before it, while the guard still waits for the first check to pass and gives the weight
    // back (a CI run read the log in that gap).
    const guardLog = async () => (await access.run("lb", "cat ~/.cutover-lb/*/web/guard.log 2>/dev/null")).stdout;
    await waitFor("the guard's record of readmitting web1", async () => /web\/web1 readmitted unchecked/.test(await guardLog()), 180_000);
    const after = await watching.stop();
    console.log(`[runner-faults] guard readmitted web1 ${((Date.now() - t0) / 1000).toFixed(1)} s after the agent was killed; ${after.requests} requests, ${after.failed} failed`);
    expect(after.failed).toBe(0);
    expect((await status()).web1).toBe("UP");
    expect(await hap("get weight web/web1")).toMatch(/^1 /);
    const one = await served("web1");
    expect([ids["3"], ids["4"] ?? one]).toContain(one);
    expect(await lockFree("web1")).toBe(true);
    await configure("4");
    await deployed("4");
  }, 400_000);

  it("web3 in MAINT by an operator stays MAINT; the others cycle; the deploy says web3 was left as found", async () => {
    await hap("set server web/web3 state maint");
    await configure("5");
    const since = Date.now();
    try {
      const r = await upUnderLoad();
      expect(r.code, r.output).toBe(0);
      expect(r.load.failed).toBe(0);
      const id = (await app.outputs()).releaseId.value as string;
      expect((await status()).web3).toBe("MAINT");
      for (const h of hosts) expect(await served(h)).toBe(id); // switched while it served nobody
      const left = events(since).find((e) => e.kind === "phase" && e.host === "web3" && e.phase === "left-as-found");
      expect(left && left.kind === "phase" && left.detail).toMatch(/web\/web3 is MAINT.*left as found/);
      ids["5"] = id;
    } finally {
      await hap("set server web/web3 state ready");
    }
    const id = ids["5"];
    await settledOn(id);
  }, 300_000);

  it("a restart that hangs: the step fails after its limit naming host and command; web1 is restored and UP; 0 failed", async () => {
    await access.must("web1", sh`touch ${flag("web1", "hang-restart")}`);
    await configure("6", { batchSize: 1 }, { timeouts: short }); // web1 alone in its batch: no host switched beside it
    const t0 = Date.now();
    const r = await upUnderLoad();
    console.log(`[runner-faults] hung restart: up ended after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(r.code).not.toBe(0);
    expect(r.load.failed).toBe(0);
    expect(r.output).toMatch(/web1 \(batch 1\) did not switch to 6-\w+: restart did not finish within its limit of 6s \(command: if \[ -e shared\/log\/hang-restart \]/);
    expect(r.output).toContain(`web1 is back on its previous release ${ids["5"]} and in rotation`);
    await settledOn(ids["5"]);
    await deployed("6");
  }, 300_000);

  it("a restart that leaves `sleep 600` running: the host lock is free and the next deploy is not blocked", async () => {
    await access.must("web1", sh`touch ${flag("web1", "bg-restart")}`);
    await configure("7");
    await deployed("7");
    expect(await access.must("web1", "pgrep -x sleep | wc -l")).not.toBe("0\n");
    await access.must("web1", sh`rm -f ${flag("web1", "bg-restart")}`);
    await configure("8");
    await deployed("8");
    await access.must("web1", "pkill -x sleep || true");
  }, 300_000);

  it("redeploy restarts every host through the same cycle (a new activation each)", async () => {
    const before = await Promise.all(hosts.map(async (h) => (await activations(h)).length));
    await configure("8", {}, { redeploy: "again-1" });
    await deployed("8");
    const after = await Promise.all(hosts.map(async (h) => await activations(h)));
    hosts.forEach((h, i) => {
      expect(after[i].length, h).toBe(before[i] + 1);
      expect(after[i].at(-1)?.release).toBe(ids["8"]);
    });
  }, 300_000);

  it("an event log that cannot be written mid-deploy: the deploy completes, every host UP", async () => {
    await configure("9");
    const file = eventLogPath(key);
    const r = await upUnderLoad(async (since) => {
      await waitFor("web1 hidden", phaseSeen("web1", "hidden", since), 120_000);
      fs.renameSync(file, `${file}.saved`);
      fs.mkdirSync(file); // appends now fail with EISDIR
    });
    fs.rmdirSync(file);
    fs.renameSync(`${file}.saved`, file);
    expect(r.code, r.output).toBe(0);
    expect(r.load.failed).toBe(0);
    ids["9"] = (await app.outputs()).releaseId.value as string;
    await settledOn(ids["9"]);
  }, 300_000);

  it("a release that exits 4 s after it starts: caught in web1's stability window, web1 restored, later batches untouched", async () => {
    fs.writeFileSync(path.join(appDir, "EXIT_AFTER_MS"), "4000\n");
    try {
      await configure("10", { batchSize: 1, stableSeconds: 5 });
      const before = await Promise.all(hosts.map(async (h) => (await activations(h)).length));
      const r = await upUnderLoad();
      expect(r.code).not.toBe(0);
      expect(r.output).toMatch(/web1 \(batch 1\) did not switch to 10-\w+: release 10-\w+ (stopped passing its check|stopped) within 5s/);
      expect(r.output).toContain("web1 was switched back to its previous release and in rotation");
      expect(await served("web1")).toBe(ids["9"]);
      const after = await Promise.all(hosts.map(async (h) => (await activations(h)).length));
      expect(after.slice(1)).toEqual(before.slice(1));
      console.log(`[runner-faults] exit-after-4s release: ${r.load.failed} failed requests while web1 flapped in its window`);
    } finally {
      fs.rmSync(path.join(appDir, "EXIT_AFTER_MS"));
    }
    await configure("11");
    await deployed("11");
  }, 300_000);

  it("restoreCycled at batch 2: both hosts of the last batch fail at once, every earlier host comes back once, 0 failed", async () => {
    await configure("12", { batchSize: 2, restoreCycled: true });
    for (const h of ["web3", "web4"]) await access.must(h, sh`mkdir -p ${`${rootOf(h)}/shared/log`}`);
    // The release reads BROKEN_HEALTHZ from its own dir: break v12 on web3 and web4 only.
    fs.symlinkSync("log/broken", path.join(appDir, "BROKEN_HEALTHZ"));
    for (const h of ["web3", "web4"]) await access.must(h, sh`touch ${flag(h, "broken")}`);
    try {
      const r = await upUnderLoad();
      expect(r.code).not.toBe(0);
      expect(r.load.failed).toBe(0);
      expect(r.output).toMatch(/Switched back too \(restoreCycled\): web2, web1/);
      expect(r.output).not.toMatch(/is being deployed by/); // no peer ever met another's lock
      await settledOn(ids["11"]);
    } finally {
      fs.rmSync(path.join(appDir, "BROKEN_HEALTHZ"));
      for (const h of ["web3", "web4"]) await access.must(h, sh`rm -f ${flag(h, "broken")}`);
    }
  }, 300_000);

  it("a host that cannot be reached fails its step within a bounded time, naming the host", async () => {
    const sshd = Number(fs.readFileSync(`${fleetDir}/web4/ssh/sshd.pid`, "utf8").trim());
    process.kill(sshd, "SIGSTOP");
    for (const pid of descendants(sshd)) killIfAlive(pid);
    try {
      await configure("13");
      const t0 = Date.now();
      const r = await upUnderLoad();
      const took = (Date.now() - t0) / 1000;
      console.log(`[runner-faults] unreachable web4: up failed after ${took.toFixed(1)} s`);
      expect(r.code).not.toBe(0);
      expect(r.output).toMatch(/web4/);
      expect(r.output).toMatch(/cannot reach|Timed out/);
      expect(took).toBeLessThan(120);
      expect(r.load.failed).toBe(0);
    } finally {
      process.kill(sshd, "SIGCONT");
    }
    await deployed("13");
  }, 300_000);
});

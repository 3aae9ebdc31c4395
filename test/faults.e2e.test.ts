// Faults during a deploy, on the real engine and a local fleet, with wrk loading the load
// balancer throughout: each fault fails the `up` with a message naming the host, the step and
// what to do; afterwards every host serves one release, every web host is UP in HAProxy,
// nothing in shared/ is lost, and once the cause is gone a plain `pulumi up` converges.
//
// Covered elsewhere, not repeated here (test/recovery.e2e.test.ts): a smoke test failing in
// batch 2 with and without restoreCycled; `pulumi up` killed mid-cycle (SIGINT and SIGKILL);
// a host locked by another stack's deploy. Fifty deploys in a row: faults-churn.e2e.test.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Stack, UpResult } from "@pulumi/pulumi/automation";
import { repoRoot, requireEngine, stackUnderTest, StackUnderTest } from "./support/engine";
import { E2E_LOAD, FleetAccess, backendStatus, descendants, fleetAccess } from "./support/fleet";
import { LoadResult, RunningLoad, startLoad } from "../stacks/load";
import { DeployEvent, eventLogPath } from "../lib/runner/events";
import { sh } from "../lib/scripts/quote";

const stackName = "faulttest";
const baseDir = "/var/lib/cutover/test-fleets";
const fleetDir = `${baseDir}/${stackName}`;
const subnet = "127.95.0";
const hosts = ["web1", "web2", "web3"];
const lbUrl = `http://${subnet}.2:8080/`;
const adminSocket = `${fleetDir}/lb/haproxy/admin.sock`;
const appDir = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-fault-app-"));
const key = `cutover/${stackName}/app`;
const rootOf = (h: string) => `${fleetDir}/${h}/app`;
const appUrl = (h: string) => `http://${subnet}.${10 + hosts.indexOf(h)}:8080/healthz`;
// A file every host keeps in shared/ across all the faults.
const keeper = (h: string) => `${rootOf(h)}/shared/log/keep-me`;

// The app fails its install when shared/log/fail-install-<version> exists on the host, and
// exits at start when shared/log/crash-<version> exists: one host, one release, on purpose.
const INSTALL = 'v=$(cat VERSION); if [ -e "log/fail-install-$v" ]; then echo "install: dependency resolution failed for release $v (flag file)" >&2; exit 1; fi';
const CRASH_GUARD =
  '"use strict";\nif (require("node:fs").existsSync("CRASH_ON_START")) { process.stderr.write("sample-app: crashing on start (flag file)\\n"); process.exit(3); }\n';

interface AppOptions {
  restoreCycled?: boolean;
  smokeDeadline?: number;
  linkedDirs?: string[];
}

/** Every event the runner logged for this stack's deploys, across ups. */
function events(): DeployEvent[] {
  if (!fs.existsSync(eventLogPath(key))) return [];
  return fs.readFileSync(eventLogPath(key), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as DeployEvent);
}
const registrations = (since = 0) => events().filter((e) => e.kind === "deploy" && e.t >= since).length;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("faults under load: one consistent release, everyone in rotation, nothing lost", () => {
  const loads: RunningLoad[] = [];
  const mounts: string[] = [];
  const stoppedDaemons: number[] = [];
  let underTest: StackUnderTest;
  let stack: Stack;
  let fleet: FleetAccess;
  const ids: Record<string, string> = {};

  async function configure(version: string, o: AppOptions = {}): Promise<void> {
    fs.writeFileSync(path.join(appDir, "VERSION"), `${version}\n`);
    fs.rmSync(path.join(appDir, "CRASH_ON_START"), { force: true });
    fs.symlinkSync(`log/crash-${version}`, path.join(appDir, "CRASH_ON_START"));
    const app = {
      source: appDir,
      version,
      prepare: { linkedDirs: o.linkedDirs ?? ["log"], installCommand: INSTALL },
      deployer: "alice",
      rollout: { batchSize: 1, smoke: { path: "/healthz", deadlineSeconds: o.smokeDeadline ?? 5 }, restoreCycled: o.restoreCycled ?? false, stableSeconds: 1 },
    };
    await stack.setConfig("cutover:app", { value: JSON.stringify(app) });
  }

  /** `up` under load; the error's message when it fails. */
  async function upUnderLoad(fault: string): Promise<{ load: LoadResult; error?: string; up?: UpResult }> {
    const running = startLoad(lbUrl, { ...E2E_LOAD, maxSeconds: 240 });
    loads.push(running);
    await waitFor("the load to get answers", async () => (await fetchText(lbUrl)) !== undefined);
    let error: string | undefined;
    let up: UpResult | undefined;
    try {
      up = await stack.up();
    } catch (e) {
      error = (e as Error).message;
    }
    const load = await running.stop();
    console.log(`[fault] ${fault}: up ${error ? "failed" : "succeeded"}; ${load.requests} requests, ${load.failed} failed`);
    return { load, error, up };
  }

  async function fetchText(url: string): Promise<string | undefined> {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
      return r.ok ? (await r.text()).trim() : undefined;
    } catch {
      return undefined;
    }
  }

  async function waitFor(what: string, ok: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await ok()) return;
      await sleep(100);
    }
    throw new Error(`${what}: not within ${timeoutMs} ms`);
  }

  /** The plain `up` after the cause is gone: succeeds under load with 0 failed, one release. */
  async function converges(fault: string, version: string): Promise<void> {
    const retry = await upUnderLoad(fault);
    expect(retry.error).toBeUndefined();
    expect(retry.load.failed).toBe(0);
    ids[version] = retry.up!.outputs.releaseId.value as string;
    expect(ids[version]).toMatch(new RegExp(`^${version}-[0-9a-f]{12}$`));
    await consistent(ids[version]);
  }

  // Straight from this machine to each host's app address: works even with a host's sshd down.
  const servedEverywhere = () => Promise.all(hosts.map((h) => fetchText(appUrl(h))));
  const allUp = async () => Object.values(await backendStatus(fleet, adminSocket, "web")).every((s) => s === "UP");

  /** What every fault must leave: one release everywhere, all UP, shared/ intact, locks free. */
  async function consistent(release: string): Promise<void> {
    expect(await servedEverywhere()).toEqual(hosts.map(() => release));
    const statuses = await backendStatus(fleet, adminSocket, "web");
    expect(statuses).toEqual(Object.fromEntries(hosts.map((h) => [h, "UP"])));
    for (const h of hosts) {
      expect(fs.readFileSync(keeper(h), "utf8")).toBe(`${h} keeps this\n`);
      expect(execFileSync("flock", ["-n", `${rootOf(h)}/.cutover/deploy.lock`, "true"]).toString()).toBe("");
    }
  }

  const flag = (h: string, name: string) => fleet.must(h, sh`touch ${`${rootOf(h)}/shared/log/${name}`}`);
  const unflag = (h: string, name: string) => fleet.must(h, sh`rm -f ${`${rootOf(h)}/shared/log/${name}`}`);
  const historyLines = (h: string) => fs.readFileSync(`${rootOf(h)}/.cutover/history.log`, "utf8").split("\n").filter(Boolean);

  beforeAll(async () => {
    requireEngine();
    fs.cpSync(path.join(repoRoot, "stacks", "sample-app"), appDir, { recursive: true });
    const server = path.join(appDir, "server.js");
    fs.writeFileSync(server, CRASH_GUARD + fs.readFileSync(server, "utf8").replace(/^"use strict";\n/, ""));
    underTest = await stackUnderTest(stackName, {
      "cutover:provider": "local",
      "cutover:fleet": {
        subnet,
        baseDir,
        hosts: hosts.map((name) => ({ name, roles: ["web"] })),
        appEnvironment: { START_DELAY_MS: "500" },
      },
    });
    stack = underTest.stack;
    await configure("1");
    const up = await stack.up();
    ids["1"] = up.outputs.releaseId.value as string;
    fleet = fleetAccess(up.outputs);
    for (const h of hosts) await fleet.must(h, sh`printf '%s keeps this\n' ${h} > ${keeper(h)}`);
    await waitFor("every web host UP", allUp);
  }, 300_000);

  afterAll(async () => {
    await Promise.all(loads.map((l) => l.stop().catch(() => undefined)));
    for (const pid of stoppedDaemons) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    }
    for (const m of mounts) {
      try {
        execFileSync("umount", [m]);
      } catch {
        /* not mounted any more */
      }
    }
    await underTest?.teardown();
    fs.rmSync(appDir, { recursive: true, force: true });
  }, 300_000);

  it("bad input is refused at preview and at up, naming the argument and the fix, before any host changes", async () => {
    const before = hosts.map(historyLines);
    const registered = registrations();
    await configure("bad", { linkedDirs: ["log", "../../etc"] });
    for (const op of [() => stack.preview(), () => stack.up()]) {
      const err = await op().then(
        () => "accepted",
        (e: Error) => e.message,
      );
      expect(err).toMatch(/prepare\.linkedDirs\[1\] "\.\.\/\.\.\/etc" is invalid: use a path inside the release such as "log"/);
    }
    expect(hosts.map(historyLines)).toEqual(before);
    expect(registrations()).toBe(registered); // the runner was never asked
    for (const h of hosts) expect(fs.readdirSync(`${rootOf(h)}/.cutover/uploads`)).toEqual([]);
    await consistent(ids["1"]);
  }, 120_000);

  it("1. a host unreachable during prepare: the up fails naming it, nothing switches; restored, the next up converges", async () => {
    // Stopped, not dead: a dead sshd would be started again by the fleet's liveness check
    // at the start of the very next up, before any deploy step. Its open sessions (the
    // runner's pooled connection among them) are cut, so nothing reaches web3 any more.
    const pid = Number(fs.readFileSync(`${fleetDir}/web3/ssh/sshd.pid`, "utf8").trim());
    process.kill(pid, "SIGSTOP");
    stoppedDaemons.push(pid);
    for (const child of descendants(pid)) process.kill(child, "SIGKILL");
    await waitFor("web3's ssh sessions to end", async () => descendants(pid).length === 0);
    await configure("2");
    const failed = await upUnderLoad("1 unreachable host during prepare");
    expect(failed.error).toMatch(/cutover: web3: prepare failed: cannot reach cutover@127\.95\.0\.12:2222: Timed out while waiting for handshake\. Fix the cause \(is web3 up and reachable over SSH\?\) and run `pulumi up` again/);
    expect(failed.load.failed).toBe(0);
    await consistent(ids["1"]); // web3 is unreachable over SSH, its app still serves v1

    // Its sshd dies; the fleet's liveness check sees that and starts it again in the next up.
    process.kill(pid, "SIGKILL");
    await waitFor("web3's sshd to be gone", async () => !fs.existsSync(`/proc/${pid}`));
    await converges("1 unreachable host, after its sshd is back", "2");
  }, 400_000);

  it("2. install fails on one host: the up fails naming the host and install, nothing switches; fixed, the next up converges", async () => {
    await flag("web2", "fail-install-3");
    await configure("3");
    const failed = await upUnderLoad("2 install fails on web2");
    expect(failed.error).toMatch(/install: dependency resolution failed for release 3/);
    expect(failed.error).toMatch(/cutover\[web2\] install: command exited with status 1/);
    expect(failed.error).toMatch(/cutover: web2: prepare failed: .*\. No host was switched; fix the cause and run `pulumi up` again\./);
    expect(failed.load.failed).toBe(0);
    await consistent(ids["2"]);

    await unflag("web2", "fail-install-3");
    await converges("2 install fails, after the fix", "3");
  }, 400_000);

  it("3. disk full on one host during upload: the up fails naming the host and the upload, nothing switches; with space, the next up converges", async () => {
    const uploads = `${rootOf("web1")}/.cutover/uploads`;
    const owner = fs.statSync(uploads);
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=256k,mode=0755,uid=${owner.uid},gid=${owner.gid}`, "cutover-fault-full", uploads]);
    mounts.push(uploads);
    // Incompressible, so the artifact is bigger than the tmpfs.
    fs.writeFileSync(path.join(appDir, "payload.bin"), randomBytes(1024 * 1024));
    await configure("4");
    const failed = await upUnderLoad("3 disk full on web1 during upload");
    expect(failed.error).toMatch(/cutover: web1: upload of release 4-[0-9a-f]{12} failed: .*disk full on the host\?\)\. Nothing was switched; free space and run `pulumi up` again/);
    expect(failed.load.failed).toBe(0);
    expect(fs.readdirSync(uploads)).toEqual([]); // the partial upload was removed
    await consistent(ids["3"]);

    execFileSync("umount", [uploads]);
    mounts.splice(mounts.indexOf(uploads), 1);
    await converges("3 disk full, after freeing space", "4");
    fs.rmSync(path.join(appDir, "payload.bin"));
  }, 400_000);

  it("4. a release that crash-loops on web2: its starts are bounded, the cycle fails, web2 and (restoreCycled) web1 go back", async () => {
    await flag("web2", "crash-5");
    await configure("5", { restoreCycled: true });
    const supervisorLog = `${fleetDir}/web2/supervisor/supervisord.log`;
    const logBefore = fs.statSync(supervisorLog).size;
    const failed = await upUnderLoad("4 crash-looping release on web2");
    expect(failed.error).toMatch(/cutover: web2 \(batch 2\) did not switch to 5-[0-9a-f]{12}: /);
    // Caught by supervisord's report between the check's polls, not at the check's deadline.
    expect(failed.error).toMatch(/release 5-[0-9a-f]{12} stopped after its restart \(\d+ attempts\): supervisord reports app (BACKOFF|FATAL|EXITED)/);
    expect(failed.error).toMatch(/web2 is back on its previous release .* and in rotation/);
    expect(failed.error).toMatch(/Switched back too \(restoreCycled\): web1/);
    expect(failed.error).toMatch(/Fix the cause and run `pulumi up` again/);
    expect(failed.load.failed).toBe(0);
    // Not restarted forever: the crashing release ran at most startretries + 1 times (the
    // cycle restores web2 at the first failed start, or supervisord gives up first), and the
    // process started last, the previous release, is still running.
    const log = fs.readFileSync(supervisorLog, "utf8").slice(logBefore);
    const crashes = log.match(/exited: app \(exit status 3; not expected\)/g) ?? [];
    console.log(`[fault] 4 crash loop: ${crashes.length} crashed start(s) of the new release on web2`);
    expect(crashes.length).toBeGreaterThanOrEqual(1);
    expect(crashes.length).toBeLessThanOrEqual(4);
    expect(log.slice(log.lastIndexOf("spawned: 'app'"))).not.toMatch(/exited: app/);
    await consistent(ids["4"]);

    await unflag("web2", "crash-5");
    await converges("4 crash loop, after the fix", "5");
  }, 400_000);

  it("7. two ups of one stack at once: the second is refused by the stack lock with what to do; the first finishes alone", async () => {
    await configure("6");
    const running = startLoad(lbUrl, { ...E2E_LOAD, maxSeconds: 240 });
    loads.push(running);
    const before = hosts.map((h) => historyLines(h).length);
    const since = Date.now();
    const first = spawn("pulumi", ["up", "--yes", "--skip-preview", "--stack", stackName, "--non-interactive"], {
      cwd: underTest.project.dir,
      env: { ...process.env, ...underTest.project.envVars },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let firstOut = "";
    first.stdout!.on("data", (d: Buffer) => (firstOut += d.toString()));
    first.stderr!.on("data", (d: Buffer) => (firstOut += d.toString()));
    const firstExit = new Promise<number>((resolve) => first.on("close", (code) => resolve(code ?? -1)));
    // The first up is deploying once it has registered with the runner.
    await waitFor("the first up to start deploying", async () => registrations(since) > 0, 120_000);
    const second = await stack.up().then(
      () => "succeeded",
      (e: Error) => e.message,
    );
    expect(second).toMatch(/the stack is currently locked by 1 lock\(s\)/);
    expect(second).toMatch(/wait for the other process\(es\) to end or delete the lock file with `pulumi cancel`/);
    expect(await firstExit, firstOut).toBe(0);
    const load = await running.stop();
    console.log(`[fault] 7 two ups of one stack at once: second refused; ${load.requests} requests, ${load.failed} failed`);
    expect(load.failed).toBe(0);
    // Nothing interleaved: one registration, one activation per host.
    expect(registrations(since)).toBe(1);
    expect(hosts.map((h) => historyLines(h).length - before[hosts.indexOf(h)])).toEqual(hosts.map(() => 1));
    ids["6"] = (await stack.outputs()).releaseId.value as string;
    await consistent(ids["6"]);
  }, 400_000);
});

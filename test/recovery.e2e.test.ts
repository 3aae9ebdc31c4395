// What happens after something goes wrong, on the real engine and a local fleet under load:
// Pulumi's state says what the hosts run, a plain `pulumi up` retries what did not happen,
// an unchanged `up` runs nothing, and no host is left out of rotation.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Stack, UpResult } from "@pulumi/pulumi/automation";
import { repoRoot, requireEngine, stackUnderTest, StackUnderTest } from "./support/engine";
import { E2E_LOAD, FleetAccess, backendStatus, fleetAccess, processes, sshLogins, servedRelease } from "./support/fleet";
import { LoadResult, startLoad } from "../stacks/load";
import { latestDeployEvents, summarize } from "../lib/runner/events";
import { sh } from "../lib/scripts/quote";

const stackName = "recoverytest";
const baseDir = "/var/lib/cutover/test-fleets";
const fleetDir = `${baseDir}/${stackName}`;
const subnet = "127.82.0";
const web = ["web1", "web2", "web3"];
const hosts = [...web, "worker1"];
const lbUrl = `http://${subnet}.2:8080/`;
const adminSocket = `${fleetDir}/lb/haproxy/admin.sock`;
const appDir = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-recovery-app-"));
const key = `cutover/${stackName}/app`;
const rootOf = (h: string) => `${fleetDir}/${h}/app`;

interface AppOptions {
  deployer?: string;
  restoreCycled?: boolean;
  batchSize?: number | string;
  smokeDeadline?: number;
}

describe("recovery: failures Pulumi sees, retries by a plain up", () => {
  const loads: Array<ReturnType<typeof startLoad>> = [];
  const load = () => {
    const l = startLoad(lbUrl, { ...E2E_LOAD, maxSeconds: 240 });
    loads.push(l);
    return l;
  };
  let underTest: StackUnderTest;
  let stack: Stack;
  let fleet: FleetAccess;
  const ids: Record<string, string> = {};

  async function configure(version: string, o: AppOptions = {}): Promise<void> {
    fs.writeFileSync(path.join(appDir, "VERSION"), `${version}\n`);
    // Each release links its health flag from the host's shared dir under its own version:
    // touching shared/log/broken-<version> on one host breaks that release on that host only.
    fs.rmSync(path.join(appDir, "BROKEN_HEALTHZ"), { force: true });
    fs.symlinkSync(`log/broken-${version}`, path.join(appDir, "BROKEN_HEALTHZ"));
    const app = {
      source: appDir,
      version,
      prepare: { linkedDirs: ["log"] },
      deployer: o.deployer ?? "alice",
      rollout: {
        batchSize: o.batchSize ?? 1,
        smoke: { path: "/healthz", deadlineSeconds: o.smokeDeadline ?? 5 },
        restoreCycled: o.restoreCycled ?? false,
        stableSeconds: 1,
      },
    };
    await stack.setConfig("cutover:app", { value: JSON.stringify(app) });
  }

  /** `up` under load; the error's message when it fails. */
  async function upUnderLoad(): Promise<{ load: LoadResult; error?: string; up?: UpResult }> {
    const running = load();
    await new Promise((r) => setTimeout(r, 500));
    let error: string | undefined;
    let up: UpResult | undefined;
    try {
      up = await stack.up();
    } catch (e) {
      error = (e as Error).message;
    }
    const result = await running.stop();
    console.log(`[recovery] up ${error ? "failed" : "succeeded"} under load: ${result.requests} requests, ${result.failed} failed`);
    return { load: result, error, up };
  }

  const served = (h: string) => servedRelease(fleet, subnet, hosts, h);
  const servedEverywhere = async () => Promise.all(hosts.map(served));
  const allUp = async () => Object.values(await backendStatus(fleet, adminSocket, "web")).every((s) => s === "UP");
  const lockFree = async (h: string) => (await fleet.run(h, sh`flock -n ${`${rootOf(h)}/.cutover/deploy.lock`} true`)).code === 0;
  const history = async (h: string) =>
    (await fleet.must(h, sh`cat ${`${rootOf(h)}/.cutover/history.log`}`)).split("\n").filter(Boolean).map((l) => JSON.parse(l) as { action: string; release: string });
  const breakOn = (h: string, version: string) => fleet.must(h, sh`touch ${`${rootOf(h)}/shared/log/broken-${version}`}`);
  const fixOn = (h: string, version: string) => fleet.must(h, sh`rm -f ${`${rootOf(h)}/shared/log/broken-${version}`}`);

  /** `pulumi up` as a user runs it in a terminal, so it can be interrupted. */
  function pulumiUp(): { child: ReturnType<typeof spawn>; exited: Promise<number> } {
    const child = spawn("pulumi", ["up", "--yes", "--skip-preview", "--stack", stackName, "--non-interactive"], {
      cwd: underTest.project.dir,
      env: { ...process.env, ...underTest.project.envVars },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout!.resume();
    child.stderr!.resume();
    return { child, exited: new Promise((resolve) => child.on("close", (code) => resolve(code ?? -1))) };
  }

  /** Processes of a `pulumi up` still running: step commands, the engine's plugins and hosts. */
  function leftOfAnUp(): string[] {
    return processes()
      .filter((p) => /step-main\.js|pulumi-resource-|pulumi-language-/.test(p.cmdline))
      .map((p) => `${p.pid}: ${p.cmdline.slice(0, 160)}`);
  }

  /** Resolves when the runner's event log shows `host` out of rotation after `since`. */
  async function whenHidden(host: string, since: number, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (latestDeployEvents(key).some((e) => e.t >= since && e.kind === "phase" && e.host === host && e.phase === "hidden")) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${host} was never hidden within ${timeoutMs} ms`);
  }

  beforeAll(async () => {
    requireEngine();
    fs.cpSync(path.join(repoRoot, "stacks", "sample-app"), appDir, { recursive: true });
    underTest = await stackUnderTest(stackName, {
      "cutover:provider": "local",
      "cutover:fleet": {
        subnet,
        baseDir,
        hosts: hosts.map((name) => ({ name, roles: [name.startsWith("web") ? "web" : "worker"] })),
        appEnvironment: { START_DELAY_MS: "500" },
      },
    });
    stack = underTest.stack;
    await configure("1");
    const up = await stack.up();
    ids["1"] = up.outputs.releaseId.value as string;
    fleet = fleetAccess(up.outputs);
  }, 300_000);

  afterAll(async () => {
    await Promise.all(loads.map((l) => l.stop().catch(() => undefined)));
    // A lock holder left by a failed lock test.
    await fleet?.run("web3", sh`kill "$(cat ${`${rootOf("web3")}/.cutover/holder.pid`})"`).catch(() => undefined);
    await underTest?.teardown();
    fs.rmSync(appDir, { recursive: true, force: true });
  }, 300_000);

  it("refuses at preview a batch size that would hide every web host at once", async () => {
    await configure("2", { batchSize: "100%" });
    const err = await stack.preview().then(
      () => "previewed",
      (e: Error) => e.message,
    );
    expect(err).toMatch(/batchSize "100%" is invalid: it would hide all 3 hosts of role "web" at once .* use at most 2/);
  }, 120_000);

  it("an unchanged up by another deployer with other smoke settings runs nothing on any host", async () => {
    await configure("2", { deployer: "alice" });
    const first = await upUnderLoad();
    expect(first.error).toBeUndefined();
    expect(first.load.failed).toBe(0);
    ids["2"] = first.up!.outputs.releaseId.value as string;
    expect(await servedEverywhere()).toEqual(hosts.map(() => ids["2"]));

    const logins = [...hosts, "lb"].map((h) => sshLogins(fleetDir, h));
    await configure("2", { deployer: "bob (CI)", smokeDeadline: 9 });
    const again = await stack.up();
    expect(again.summary.resourceChanges).toEqual({ same: expect.any(Number) });
    const s = summarize(latestDeployEvents(key));
    console.log(`[recovery] unchanged up as another deployer: ${s.remoteCommands} remote commands, ${s.sshHandshakes} handshakes`);
    expect(s.remoteCommands).toBe(0);
    expect([...hosts, "lb"].map((h) => sshLogins(fleetDir, h))).toEqual(logins);
  }, 300_000);

  it("a release failing its health check on web2 (batch 2): up fails naming web2, every host serves v2, a plain up after the fix finishes", async () => {
    await breakOn("web2", "3");
    await configure("3");
    const failed = await upUnderLoad();
    expect(failed.error).toMatch(/web2 \(batch 2\) did not switch to 3-[0-9a-f]{12}: smoke test: GET http:\/\/127\.82\.0\.11:8080\/healthz did not return release 3-/);
    expect(failed.error).toMatch(/web2 is back on its previous release .* and in rotation/);
    expect(failed.error).not.toMatch(/--replace/);
    expect(failed.load.failed).toBe(0);
    ids["3"] = failed.error!.match(/switch to (3-[0-9a-f]{12})/)![1];
    // web1 (batch 1) switched and stays; web2 is restored; web3 and the worker never moved.
    expect(await servedEverywhere()).toEqual([ids["3"], ids["2"], ids["2"], ids["2"]]);
    expect(await allUp()).toBe(true);
    for (const h of hosts) expect(await lockFree(h)).toBe(true);

    await fixOn("web2", "3");
    const web1Before = await history("web1");
    const retry = await upUnderLoad(); // the same config: plain `pulumi up`
    expect(retry.error).toBeUndefined();
    expect(retry.load.failed).toBe(0);
    expect(await servedEverywhere()).toEqual(hosts.map(() => ids["3"]));
    expect(await history("web1")).toEqual(web1Before); // web1 was not touched again
    expect(await allUp()).toBe(true);
  }, 400_000);

  it("with restoreCycled, batch 1 goes back too, and the plain up after the fix moves it forward again", async () => {
    await breakOn("web2", "4");
    await configure("4", { restoreCycled: true });
    const failed = await upUnderLoad();
    expect(failed.error).toMatch(/web2 \(batch 2\) did not switch to 4-[0-9a-f]{12}: smoke test/);
    expect(failed.error).toMatch(/Switched back too \(restoreCycled\): web1/);
    expect(failed.load.failed).toBe(0);
    ids["4"] = failed.error!.match(/switch to (4-[0-9a-f]{12})/)![1];
    expect(await servedEverywhere()).toEqual(hosts.map(() => ids["3"]));
    expect(await allUp()).toBe(true);

    await fixOn("web2", "4");
    const retry = await upUnderLoad();
    expect(retry.error).toBeUndefined();
    expect(retry.load.failed).toBe(0);
    expect(await servedEverywhere()).toEqual(hosts.map(() => ids["4"]));
    expect(await allUp()).toBe(true);
  }, 400_000);

  it("Ctrl-C of pulumi up while a host is hidden: when pulumi exits, every host is in rotation; the next up converges", async () => {
    await configure("5");
    const running = load();
    const since = Date.now();
    const run = pulumiUp();
    await whenHidden("web2", since);
    run.child.kill("SIGINT");
    const interrupted = Date.now();
    const code = await run.exited;
    const took = (Date.now() - interrupted) / 1000;
    console.log(`[recovery] Ctrl-C: pulumi exited ${took.toFixed(1)} s after the signal`);
    expect(code).not.toBe(0);
    expect(await allUp()).toBe(true); // at the moment pulumi has exited
    // Within seconds (web2's job finishes and it is put back first), and nothing of that up is
    // left running: no step, no plugin (the per-user agent stays, by design).
    expect(took).toBeLessThan(30);
    for (let i = 0; i < 50 && leftOfAnUp().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(leftOfAnUp()).toEqual([]);
    const next = await stack.up();
    const result = await running.stop();
    console.log(`[recovery] interrupted up and the next one: ${result.requests} requests, ${result.failed} failed`);
    expect(result.failed).toBe(0);
    ids["5"] = next.outputs.releaseId.value as string;
    expect(await servedEverywhere()).toEqual(hosts.map(() => ids["5"]));
    for (const h of hosts) expect(await lockFree(h)).toBe(true);
  }, 400_000);

  it("SIGKILL of pulumi up while a host is hidden: the host comes back by itself; after `pulumi cancel` the next up converges", async () => {
    await configure("6");
    const running = load();
    const since = Date.now();
    const run = pulumiUp();
    await whenHidden("web2", since);
    run.child.kill("SIGKILL");
    await run.exited;
    // The agent finishes the cycle it was running: bounded by the cycle's own limits.
    const deadline = Date.now() + 60_000;
    while (!(await allUp()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(await allUp()).toBe(true);
    // A killed `pulumi up` leaves the stack's lock behind (the README's documented step).
    await stack.cancel().catch(() => undefined);
    const next = await stack.up();
    const result = await running.stop();
    console.log(`[recovery] interrupted up and the next one: ${result.requests} requests, ${result.failed} failed`);
    expect(result.failed).toBe(0);
    ids["6"] = next.outputs.releaseId.value as string;
    expect(await servedEverywhere()).toEqual(hosts.map(() => ids["6"]));
    expect(await allUp()).toBe(true);
    for (const h of hosts) expect(await lockFree(h)).toBe(true);
  }, 400_000);

  it("a host locked by another stack's deploy is refused naming the holder and what to run; nothing interleaves", async () => {
    // Another deploy (stack "other") holds web3's lock, as its cycle script would: a shell
    // with the lock on descriptor 9 that then becomes `sleep` (same pid, same descriptor).
    const pidFile = `${rootOf("web3")}/.cutover/holder.pid`;
    const hold = fleet.run(
      "web3",
      [
        sh`exec 9>>${`${rootOf("web3")}/.cutover/deploy.lock`}`,
        "flock -n 9",
        sh`printf 'owner=carol\nstack=other\nrelease=9-000000000000\nstep=cycle\npid=%s\ntime=now\n' $$ > ${`${rootOf("web3")}/.cutover/deploy.lock.info`}`,
        sh`echo $$ > ${pidFile}`,
        "exec sleep 120",
      ].join("\n"),
    );
    const deadline = Date.now() + 10_000;
    while ((await lockFree("web3")) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await configure("7");
    const err = await stack.up().then(
      () => "succeeded",
      (e: Error) => e.message,
    );
    expect(err).toMatch(/host web3 is being deployed by carol \(stack other, release 9-000000000000, step cycle\) since \S+; the lock is held by pid \d+ on the host/);
    expect(err).toMatch(/wait for that deploy to finish and run `pulumi up` again/);
    // web3 never moved; it is in rotation.
    expect(await served("web3")).toBe(ids["6"]);
    expect(await allUp()).toBe(true);
    await fleet.must("web3", sh`kill "$(cat ${pidFile})"` + sh` && rm -f ${pidFile}`);
    await hold;
    const retry = await stack.up();
    ids["7"] = retry.outputs.releaseId.value as string;
    expect(await servedEverywhere()).toEqual(hosts.map(() => ids["7"]));
  }, 400_000);
});

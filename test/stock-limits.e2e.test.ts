// Real-server limits and the balancer as a shared resource, on the real engine:
// - 24 hosts whose every sshd (gateway, balancer, hosts) keeps OpenSSH's stock MaxSessions 10
//   and MaxStartups 10:30:100, deployed at 50% batches with `pulumi up --parallel 32` (what a
//   16-core CI runner gets): 12 hosts hidden and put back at once through the one connection to
//   the balancer, without a refused session or connection in any sshd log, 0 failed requests;
// - two app stacks deploying to hosts of the same HAProxy backend at once: the backend never
//   has fewer UP servers than minInRotation (HAProxy sampled every 100 ms);
// - restoreCycled at 25% on 8 hosts (batches of 2): both hosts of the last batch fail their
//   check, and every host of the three batches before goes back, 0 failed.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Stack } from "@pulumi/pulumi/automation";
import { TempProject, repoRoot, requireEngine, stackOnSharedBackend } from "./support/engine";
import { E2E_LOAD, FleetAccess, backendStatus, fleetAccess } from "./support/fleet";
import { sh } from "../lib/scripts/quote";
import { runProcess } from "../lib/engine/command-provider/run";
import { startLoad } from "../stacks/load";

const fleetStack = "stocklimits";
const baseDir = "/var/lib/cutover/test-fleets";
const fleetDir = `${baseDir}/${fleetStack}`;
const subnet = "127.98.0";
const hosts = Array.from({ length: 24 }, (_, i) => `web${i + 1}`);
const lbUrl = `http://${subnet}.2:8080/`;
const adminSocket = `${fleetDir}/lb/haproxy/admin.sock`;
const appDir = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-stock-limits-app-"));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Lines in any of the fleet's sshd logs saying a session or a connection was refused. */
function refusals(): string[] {
  const found: string[] = [];
  for (const machine of fs.readdirSync(fleetDir)) {
    const log = `${fleetDir}/${machine}/ssh/sshd.log`;
    if (!fs.existsSync(log)) continue;
    for (const line of fs.readFileSync(log, "utf8").split("\n")) {
      if (/no more sessions|past MaxStartups|drop connection|open failed|administratively prohibited/i.test(line)) found.push(`${machine}: ${line}`);
    }
  }
  return found;
}

describe("stock sshd limits and a shared backend", () => {
  const projects: TempProject[] = [];
  let fleet: Stack;
  let access: FleetAccess;

  const stackOf = (name: string, config: Record<string, unknown>) => stackOnSharedBackend(projects, name, config);

  const appConfig = (version: string, rollout: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    source: appDir,
    version,
    deployer: "stock-limits",
    rollout: { smoke: { path: "/healthz", deadlineSeconds: 20 }, stableSeconds: 1, ...rollout },
    ...extra,
  });

  /** An app stack over some of the fleet's hosts, through the ssh inventory (another team's app). */
  async function appStackOn(name: string, names: string[]): Promise<{ name: string; stack: Stack; project: TempProject }> {
    const out = await fleet.outputs();
    const inventory = out.inventory.value as { hosts: Array<{ name: string }> };
    const stack = await stackOf(name, { "cutover:provider": "ssh", "cutover:inventory": { ...inventory, hosts: inventory.hosts.filter((h) => names.includes(h.name)) } });
    await stack.setConfig("cutover:sshPrivateKey", { value: out.deployKey.value as string, secret: true });
    return { name, stack, project: projects[projects.length - 1] };
  }

  /** `pulumi up` by the CLI in a stack's project, with extra flags. */
  async function cliUp(stack: string, project: TempProject, ...flags: string[]): Promise<{ code: number; output: string }> {
    const r = await runProcess("pulumi", ["up", "--yes", "--skip-preview", "--stack", stack, "--non-interactive", "--color", "never", ...flags], {
      cwd: project.dir,
      env: { ...process.env, ...projects[0].envVars },
    });
    return { code: r.code, output: r.stdout + r.stderr };
  }

  beforeAll(async () => {
    requireEngine();
    fs.cpSync(path.join(repoRoot, "stacks", "sample-app"), appDir, { recursive: true });
    fleet = await stackOf(fleetStack, {
      "cutover:provider": "local",
      "cutover:fleet": { subnet, baseDir, stockSshdLimits: true, hosts: hosts.map((name) => ({ name, roles: ["web"] })), appEnvironment: { START_DELAY_MS: "300" } },
      "cutover:app": appConfig("1", { batchSize: "50%" }),
    });
    access = fleetAccess((await fleet.up()).outputs);
  }, 900_000);

  afterAll(async () => {
    await fleet?.destroy().catch(() => undefined);
    for (const p of projects.reverse()) p.cleanup();
    fs.rmSync(appDir, { recursive: true, force: true });
  }, 900_000);

  it("every sshd keeps OpenSSH's stock limits", () => {
    for (const machine of ["gateway", "lb", "web1", "web24"]) {
      const config = fs.readFileSync(`${fleetDir}/${machine}/ssh/sshd_config`, "utf8");
      expect(config).toContain("MaxSessions 10\n");
      expect(config).toContain("MaxStartups 10:30:100\n");
    }
  });

  it("24 hosts at 50% with --parallel 32: 12 hidden and put back at once, no refused session or connection, 0 failed", async () => {
    fs.writeFileSync(path.join(appDir, "VERSION"), "2\n");
    await fleet.setConfig("cutover:app", { value: JSON.stringify(appConfig("2", { batchSize: "50%" })) });
    const load = startLoad(lbUrl, { ...E2E_LOAD, maxSeconds: 400 });
    const r = await cliUp(fleetStack, projects[0], "--parallel", "32");
    const result = await load.stop();
    console.log(`[stock-limits] 24 hosts at 50%, --parallel 32: exit ${r.code}, ${result.requests} requests, ${result.failed} failed`);
    expect(r.code, r.output.slice(-3000)).toBe(0);
    expect(result.failed).toBe(0);
    expect(refusals()).toEqual([]);
    const id = (await fleet.outputs()).releaseId.value as string;
    const states = await backendStatus(access, adminSocket, "web");
    expect(Object.values(states).every((s) => s === "UP")).toBe(true);
    const served = await access.must("web13", `curl -fsS http://${subnet}.22:8080/healthz`);
    expect(served.trim()).toBe(id);
  }, 900_000);

  it("two stacks deploying to one backend at once never leave fewer than minInRotation servers UP", async () => {
    const minInRotation = 21;
    const stacks: Array<{ name: string; stack: Stack; project: TempProject }> = [];
    for (const [i, names] of [hosts.slice(0, 3), hosts.slice(3, 6)].entries()) {
      const s = await appStackOn(`shared${i + 1}`, names);
      fs.writeFileSync(path.join(appDir, "VERSION"), "3\n");
      await s.stack.setConfig("cutover:app", { value: JSON.stringify(appConfig("3", { batchSize: 2, minInRotation })) });
      stacks.push(s);
    }
    let sampling = true;
    let fewest = Number.POSITIVE_INFINITY;
    let samples = 0;
    const sampler = (async () => {
      while (sampling) {
        // Read on this machine, where the fleet's HAProxy runs: no SSH session per sample.
        const csv = await runProcess("sh", ["-c", `echo 'show stat' | socat stdio unix-connect:${adminSocket}`], {}).catch(() => undefined);
        if (csv?.code === 0) {
          const up = csv.stdout.split("\n").filter((l) => l.startsWith("web,") && !l.startsWith("web,BACKEND")).filter((l) => l.split(",")[17]?.startsWith("UP")).length;
          fewest = Math.min(fewest, up);
          samples++;
        }
        await sleep(100);
      }
    })();
    const load = startLoad(lbUrl, { ...E2E_LOAD, maxSeconds: 400 });
    const results = await Promise.all(stacks.map((s) => cliUp(s.name, s.project)));
    sampling = false;
    await sampler;
    const result = await load.stop();
    console.log(`[stock-limits] two stacks on one backend: fewest UP ${fewest} of 24 over ${samples} samples (minInRotation ${minInRotation}); ${result.failed} failed of ${result.requests}`);
    for (const r of results) expect(r.code, r.output.slice(-2000)).toBe(0);
    expect(fewest).toBeGreaterThanOrEqual(minInRotation);
    expect(samples).toBeGreaterThan(20);
    expect(result.failed).toBe(0);
    for (const s of stacks) {
      const id = (await s.stack.outputs()).releaseId.value as string;
      expect(id).toMatch(/^3-/);
      await s.stack.destroy().catch(() => undefined);
    }
  }, 900_000);

  it("restoreCycled at 25% on 8 hosts: the last batch fails, and every host of the three batches before goes back; 0 failed", async () => {
    const eight = hosts.slice(6, 14);
    const rootOf = (h: string) => `${fleetDir}/${h}/app`;
    const currentOf = async (h: string) => (await access.must(h, sh`readlink -- ${`${rootOf(h)}/current`}`)).trim().split("/").pop();
    const before = await Promise.all(eight.map(currentOf));
    const s = await appStackOn("quarter", eight);
    fs.writeFileSync(path.join(appDir, "VERSION"), "4\n");
    await s.stack.setConfig("cutover:app", {
      value: JSON.stringify(appConfig("4", { batchSize: "25%", restoreCycled: true, smoke: { path: "/healthz", deadlineSeconds: 3 } }, { prepare: { linkedDirs: ["log"] } })),
    });
    // The release reads BROKEN_HEALTHZ from its own dir: a link into the shared log dir, which
    // has the file only on the last batch's two hosts.
    const last = eight.slice(-2);
    for (const h of last) await access.must(h, sh`mkdir -p ${`${rootOf(h)}/shared/log`}` + " && " + sh`touch ${`${rootOf(h)}/shared/log/broken`}`);
    fs.symlinkSync("log/broken", path.join(appDir, "BROKEN_HEALTHZ"));
    try {
      const load = startLoad(lbUrl, { ...E2E_LOAD, maxSeconds: 300 });
      const r = await cliUp(s.name, s.project);
      const result = await load.stop();
      console.log(`[stock-limits] restoreCycled at 25% on 8 hosts: exit ${r.code}, ${result.requests} requests, ${result.failed} failed`);
      expect(r.code).not.toBe(0);
      expect(r.output).toMatch(new RegExp(`${last[0]} \\(batch 4\\) did not switch|${last[1]} \\(batch 4\\) did not switch`));
      const restored = /Switched back too \(restoreCycled\): ([\w, ]+)/.exec(r.output)?.[1].split(", ").sort();
      expect(restored).toEqual(eight.slice(0, 6).sort());
      expect(r.output).not.toMatch(/is being deployed by/); // no restore met a peer's lock
      expect(result.failed).toBe(0);
      // Every host serves what it served before the deploy, and all 24 are UP.
      expect(await Promise.all(eight.map(currentOf))).toEqual(before);
      expect(Object.values(await backendStatus(access, adminSocket, "web")).filter((st) => st === "UP")).toHaveLength(24);
    } finally {
      fs.rmSync(path.join(appDir, "BROKEN_HEALTHZ"));
      for (const h of last) await access.must(h, sh`rm -f ${`${rootOf(h)}/shared/log/broken`}`);
    }
  }, 900_000);
});

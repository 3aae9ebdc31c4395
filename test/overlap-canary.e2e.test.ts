// The overlap strategy and the canary on the real engine and a local fleet with standby slots,
// under load through HAProxy: the new release starts beside the old one and takes the traffic
// (capacity sampled every 100 ms never drops), a rollback within warmSeconds only moves traffic
// back (no restart anywhere), the old slot stops once its warm time is over, and a release that
// answers 500 to a fifth of its requests is caught by the canary and rolled back.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Stack } from "@pulumi/pulumi/automation";
import { repoRoot, requireEngine, stackUnderTest, StackUnderTest } from "./support/engine";
import { FleetAccess, backendStatus, fleetAccess, fleetProcesses, underLoad } from "./support/fleet";
import type { LoadResult } from "../stacks/load";
import { CapacityResult, sampleCapacity } from "../stacks/capacity";
import { latestDeployEvents } from "../lib/runner/events";
import { sh } from "../lib/scripts/quote";

const stackName = "overlaptest";
const fleetDir = `/var/lib/cutover/test-fleets/${stackName}`;
const subnet = "127.83.0";
const hosts = ["web1", "web2", "web3", "web4"];
const lbUrl = `http://${subnet}.2:8080/`;
const adminSocket = `${fleetDir}/lb/haproxy/admin.sock`;
const appDir = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-overlap-app-"));

type Rollout = Record<string, unknown>;

describe("overlap: the new release beside the old one, and the canary", () => {
  let underTest: StackUnderTest;
  let stack: Stack;
  let fleet: FleetAccess;
  let key = "";
  const ids: Record<string, string> = {};

  async function setApp(version: string, rollout: Rollout, release?: string, files: Record<string, string> = {}): Promise<void> {
    fs.writeFileSync(path.join(appDir, "VERSION"), `${version}\n`);
    for (const f of ["ERROR_RATE"]) fs.rmSync(path.join(appDir, f), { force: true });
    for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(appDir, f), text);
    const app = {
      source: appDir,
      version,
      ...(release ? { release } : {}),
      deployer: "overlap-test",
      rollout: { batchSize: 1, strategy: "overlap", smoke: { path: "/healthz", deadlineSeconds: 10 }, stableSeconds: 1, ...rollout },
    };
    await stack.setConfig("cutover:app", { value: JSON.stringify(app) });
  }

  /** Deploys under load while sampling the backend's capacity; returns totals and the error, if any. */
  async function deployUnderLoad(
    version: string,
    rollout: Rollout = {},
    opts: { release?: string; files?: Record<string, string> } = {},
  ): Promise<{ load: LoadResult; capacity: CapacityResult; seconds: number; error?: string }> {
    await setApp(version, rollout, opts.release, opts.files);
    const capacity = sampleCapacity(adminSocket, "web", hosts.length);
    const r = await underLoad(lbUrl, async () => {
      ids[version] = (await stack.up()).outputs.releaseId.value as string;
    });
    return { ...r, capacity: await capacity.stop() };
  }

  const servingSlot = (h: string) => fs.readFileSync(`${fleetDir}/${h}/app/.cutover/slots/serving`, "utf8").trim();
  /** The release the host's serving slot answers with, asked on the host (slot a on 8080, b on 8081). */
  const servingRelease = async (h: string) =>
    (await fleet.must(h, sh`curl -fsS --max-time 5 ${`http://${subnet}.${10 + hosts.indexOf(h)}:${servingSlot(h) === "b" ? 8081 : 8080}/healthz`}`)).trim();
  const spawns = (h: string) => fs.readFileSync(`${fleetDir}/${h}/supervisor/supervisord.log`, "utf8").split("\n").filter((l) => /spawned: 'app/.test(l)).length;
  const appProcesses = () => fleetProcesses(fleetDir).filter((p) => p.cmdline.endsWith("server.js")).length;

  beforeAll(async () => {
    requireEngine();
    fs.cpSync(path.join(repoRoot, "stacks", "sample-app"), appDir, { recursive: true });
    underTest = await stackUnderTest(stackName, {
      "cutover:provider": "local",
      "cutover:fleet": {
        subnet,
        baseDir: "/var/lib/cutover/test-fleets",
        hosts: hosts.map((name) => ({ name, roles: ["web"] })),
        appEnvironment: { START_DELAY_MS: "1000" },
        standby: true,
      },
    });
    stack = underTest.stack;
    await setApp("1", {});
    const up = await stack.up();
    ids["1"] = up.outputs.releaseId.value as string;
    fleet = fleetAccess(up.outputs);
    key = `${(await stack.workspace.projectSettings()).name}/${stackName}/app`;
  }, 400_000);

  afterAll(async () => {
    await underTest?.teardown();
    fs.rmSync(appDir, { recursive: true, force: true });
  }, 300_000);

  it("previews the strategy and the canary plan", async () => {
    await setApp("2", { canary: { hosts: 1, holdSeconds: 3, maxErrorRate: 0.05 } });
    const preview = await stack.preview({ diff: true });
    expect(preview.stdout).toContain("batch 1/4 (canary: held 3 s, rolled back above 5% 5xx; new release started beside the old one, then traffic moved): web1");
    expect(preview.stdout).toContain("batch 2/4 (new release started beside the old one, then traffic moved): web2");
  }, 120_000);

  it("deploys under load with every host serving all along, a good release passing its canary", async () => {
    const before = hosts.map(spawns);
    const r = await deployUnderLoad("2", { canary: { hosts: 1, holdSeconds: 3, maxErrorRate: 0.05 } });
    console.log(`[overlap] deploy ${r.seconds.toFixed(1)} s: ${r.load.requests} requests, ${r.load.failed} failed; ${r.capacity.samples} samples, fewest serving ${r.capacity.fewestServing}, ${r.capacity.secondsBelowCapacity} s below capacity`);
    expect(r.error).toBeUndefined();
    expect(r.load.failed).toBe(0);
    expect(r.capacity.samples).toBeGreaterThan(50);
    expect(r.capacity.secondsBelowCapacity).toBe(0);
    expect(r.capacity.fewestServing).toBe(hosts.length);
    // Each host started the release once, in its other slot.
    hosts.forEach((h, i) => expect(spawns(h) - before[i]).toBe(1));
    const phases = latestDeployEvents(key).filter((e) => e.kind === "phase");
    expect(phases.some((e) => e.kind === "phase" && e.phase === "canary-passed" && e.host === "web1")).toBe(true);
    expect(phases.some((e) => e.kind === "phase" && e.phase === "hide")).toBe(false);
    const status = await backendStatus(fleet, adminSocket, "web");
    for (const h of hosts) expect([status[h], status[`${h}-b`]].sort()).toEqual(["MAINT", "UP"]);
  }, 300_000);

  it("rolls back within warmSeconds by moving traffic only: no restart, 0 failed", async () => {
    const before = hosts.map(spawns);
    const r = await deployUnderLoad("1", {}, { release: ids["1"] });
    const events = latestDeployEvents(key).filter((e) => e.kind === "phase");
    const moves = events.filter((e) => e.kind === "phase" && (e.phase === "unhide" || e.phase === "in-rotation")).map((e) => e.t);
    const moveSeconds = (Math.max(...moves) - Math.min(...moves)) / 1000;
    console.log(`[overlap] warm rollback ${r.seconds.toFixed(1)} s (traffic moved on ${hosts.length} hosts within ${moveSeconds.toFixed(2)} s): ${r.load.requests} requests, ${r.load.failed} failed`);
    expect(r.error).toBeUndefined();
    expect(r.load.failed).toBe(0);
    expect(r.capacity.secondsBelowCapacity).toBe(0);
    expect(hosts.map(spawns)).toEqual(before);
    expect(events.filter((e) => e.kind === "phase" && e.phase === "switched").every((e) => e.kind === "phase" && /warm: no restart/.test(e.detail ?? ""))).toBe(true);
    for (const h of hosts) expect(await servingRelease(h)).toBe(ids["1"]);
    expect(moveSeconds).toBeLessThan(2);
  }, 300_000);

  it("stops the slot that served before once warmSeconds are over", async () => {
    const r = await deployUnderLoad("3", { batchSize: "50%", warmSeconds: 2 });
    expect(r.error).toBeUndefined();
    expect(r.load.failed).toBe(0);
    // Both slots ran during the deploy; the settle's timer stops the old one 2 s after its move.
    const deadline = Date.now() + 30_000;
    while (appProcesses() > hosts.length && Date.now() < deadline) await new Promise((res) => setTimeout(res, 500));
    expect(appProcesses()).toBe(hosts.length);
    for (const h of hosts) expect(await servingRelease(h)).toBe(ids["3"]);
  }, 300_000);

  it("catches a release that answers 500 to a fifth of its requests in the canary and rolls it back", async () => {
    const r = await deployUnderLoad("4", { batchSize: 2, canary: { hosts: 1, holdSeconds: 20, maxErrorRate: 0.05 } }, { files: { ERROR_RATE: "0.2" } });
    console.log(`[canary] ${r.load.requests} requests, ${r.load.failed} failed (the canary's share during its hold); error: ${r.error?.split("\n").find((l) => l.includes("canary"))}`);
    expect(r.error).toMatch(/web1 \(batch 1, the canary\) failed its canary hold: 5xx ratio (\d+(\.\d)?)% \(\d+ of \d+ responses in [\d.]+ s\), maxErrorRate 5%/);
    const ratio = Number(/5xx ratio ([\d.]+)%/.exec(r.error ?? "")![1]);
    expect(ratio).toBeGreaterThan(15);
    expect(r.error).toContain("Later batches were not started");
    // Failed requests are the canary's: a fifth of what web1 answered during its hold, no more.
    expect(r.load.failed).toBeGreaterThan(0);
    expect(r.load.non2xx).toBe(r.load.failed);
    expect(r.load.failed).toBeLessThan(r.load.requests / 4 / 4);
    // web1 is back on release 3 (its warm slot), the others never left it.
    for (const h of hosts) expect(await servingRelease(h)).toBe(ids["3"]);
  }, 300_000);
});

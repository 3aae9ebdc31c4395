// Rollback from stack history is a swap: targeting an earlier release by id builds nothing,
// uploads nothing, and only switches `current` on each host; a release that is no longer on
// the hosts is refused before anything changes, naming the ids that can be targeted.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { OutputMap, Stack } from "@pulumi/pulumi/automation";
import { repoRoot, requireEngine, stackUnderTest, StackUnderTest } from "./support/engine";
import { E2E_LOAD, FleetAccess, backendStatus, fleetAccess, servedRelease } from "./support/fleet";
import { startLoad } from "../stacks/load";
import { latestDeployEvents, summarize } from "../lib/runner/events";
import { sh } from "../lib/scripts/quote";

const stackName = "rollbacktest";
const baseDir = "/var/lib/cutover/test-fleets";
const fleetDir = `${baseDir}/${stackName}`;
const subnet = "127.83.0";
const hosts = ["web1", "web2", "web3"];
const lbUrl = `http://${subnet}.2:8080/`;
const key = `cutover/${stackName}/app`;
const appDir = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-rollback-app-"));
const rootOf = (h: string) => `${fleetDir}/${h}/app`;

describe("rollback by release id", () => {
  let underTest: StackUnderTest;
  let stack: Stack;
  let fleet: FleetAccess;
  const ids: Record<string, string> = {};
  const seconds: Record<string, number> = {};
  let outputs: OutputMap = {};

  /** Deploys a version from source, or (`release`) goes to a release id; under load. */
  async function deploy(version: string, release?: string, underLoad = true): Promise<{ failed: number; requests: number; error?: string }> {
    fs.writeFileSync(path.join(appDir, "VERSION"), `${version}\n`);
    const app = {
      source: appDir,
      version,
      ...(release ? { release } : {}),
      keepReleases: 3,
      // About rollback by id: the stability window is under test in runner-faults.
      rollout: { batchSize: 1, smoke: { path: "/healthz", deadlineSeconds: 10 }, stableSeconds: 0 },
    };
    await stack.setConfig("cutover:app", { value: JSON.stringify(app) });
    const load = underLoad ? startLoad(lbUrl, { ...E2E_LOAD, maxSeconds: 240 }) : undefined;
    const started = Date.now();
    let error: string | undefined;
    try {
      const up = await stack.up();
      ids[version] = up.outputs.releaseId.value as string;
      outputs = up.outputs;
    } catch (e) {
      error = (e as Error).message;
    }
    seconds[version] = (Date.now() - started) / 1000;
    const result = (await load?.stop()) ?? { failed: 0, requests: 0 };
    return { failed: result.failed, requests: result.requests, error };
  }

  const served = (h: string) => servedRelease(fleet, subnet, hosts, h);
  const historyOf = async (h: string) => fleet.must(h, sh`cat ${`${rootOf(h)}/.cutover/history.log`}`);

  beforeAll(async () => {
    requireEngine();
    fs.cpSync(path.join(repoRoot, "stacks", "sample-app"), appDir, { recursive: true });
    underTest = await stackUnderTest(stackName, {
      "cutover:provider": "local",
      "cutover:fleet": { subnet, baseDir, hosts: hosts.map((name) => ({ name, roles: ["web"] })), appEnvironment: { START_DELAY_MS: "500" } },
    });
    stack = underTest.stack;
    const first = await deploy("1", undefined, false); // the load balancer does not exist yet
    expect(first.error).toBeUndefined();
    fleet = fleetAccess(outputs);
  }, 300_000);

  afterAll(async () => {
    await underTest?.teardown();
    fs.rmSync(appDir, { recursive: true, force: true });
  }, 300_000);

  it("v1 → v2 → v3, then v2's id: no build, no upload, only swaps, 0 failed requests", async () => {
    for (const v of ["2", "3"]) expect((await deploy(v)).error).toBeUndefined();
    const v3 = summarize(latestDeployEvents(key));
    expect(v3.uploads).toBe(hosts.length);

    const back = await deploy("2-again", ids["2"]);
    expect(back.error).toBeUndefined();
    expect(back.failed).toBe(0);
    const s = summarize(latestDeployEvents(key));
    console.log(
      `[rollback] v3 deploy ${seconds["3"].toFixed(1)} s (${v3.uploads} uploads, ${v3.uploadedBytes} bytes); ` +
        `rollback to ${ids["2"]} ${seconds["2-again"].toFixed(1)} s (${s.uploads} uploads, ${s.remoteCommands} remote commands), ` +
        `ratio ${(seconds["2-again"] / seconds["3"]).toFixed(2)}; ${back.requests} requests, ${back.failed} failed`,
    );
    expect(s.uploads).toBe(0);
    expect(ids["2-again"]).toBe(ids["2"]);
    for (const h of hosts) expect(await served(h)).toBe(ids["2"]);
    const statuses = await backendStatus(fleet, `${fleetDir}/lb/haproxy/admin.sock`, "web");
    expect(Object.values(statuses).every((x) => x === "UP")).toBe(true);
  }, 600_000);

  it("a release no longer on the hosts is refused before any host changes, listing the ids to roll back to", async () => {
    expect((await deploy("4")).error).toBeUndefined(); // keep 3: v1 is pruned now
    const before = await Promise.all(hosts.map(historyOf));
    const refused = await deploy("1-again", ids["1"]);
    expect(refused.error).toMatch(new RegExp(`release ${ids["1"]} is not prepared on this host \\(pruned, or never deployed here\\), so it cannot be targeted by id`));
    const listed = refused.error!.match(/Ids that can be rolled back to on web\d: ([^.]*)\./)![1].split(", ").sort();
    expect(listed).toEqual([ids["2"], ids["3"], ids["4"]].sort());
    expect(await Promise.all(hosts.map(historyOf))).toEqual(before);
    for (const h of hosts) expect(await served(h)).toBe(ids["4"]);
  }, 600_000);
});

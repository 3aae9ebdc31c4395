// Drift that Pulumi sees: hosts switched behind the stack's back (`ln -sfn` by hand, as another
// stack or a person would) are listed by `pulumi preview --refresh` as exactly those hosts
// changing; `pulumi refresh` records what they serve in the state; the next plain `pulumi up`
// cycles them back under load with 0 failed requests. A host whose live release directory was
// emptied is recorded as such and refused until inspected; one whose deploy root was wiped is
// prepared again and cycled. An unchanged `up` afterwards changes nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { EngineEvent, OutputMap, Stack } from "@pulumi/pulumi/automation";
import { repoRoot, requireEngine, stackUnderTest, StackUnderTest } from "./support/engine";
import { E2E_LOAD, FleetAccess, fleetAccess, servedRelease } from "./support/fleet";
import { NOT_PREPARED } from "../lib/engine/cutover-provider/host-state";
import { startLoad } from "../stacks/load";
import { latestDeployEvents } from "../lib/runner/events";
import { sh } from "../lib/scripts/quote";

const stackName = "drifttest";
const baseDir = "/var/lib/cutover/test-fleets";
const fleetDir = `${baseDir}/${stackName}`;
const subnet = "127.84.0";
const hosts = ["web1", "web2", "web3", "web4"];
const lbUrl = `http://${subnet}.2:8080/`;
const key = `cutover/${stackName}/app`;
const appDir = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-drift-app-"));
const rootOf = (h: string) => `${fleetDir}/${h}/app`;

describe("drift seen by pulumi refresh and preview --refresh", () => {
  let underTest: StackUnderTest;
  let stack: Stack;
  let fleet: FleetAccess;
  const ids: Record<string, string> = {};

  async function deploy(version: string): Promise<OutputMap> {
    fs.writeFileSync(path.join(appDir, "VERSION"), `${version}\n`);
    const app = { source: appDir, version, rollout: { batchSize: 1, smoke: { path: "/healthz", deadlineSeconds: 10 }, stableSeconds: 0 } };
    await stack.setConfig("cutover:app", { value: JSON.stringify(app) });
    const up = await stack.up();
    ids[version] = up.outputs.releaseId.value as string;
    return up.outputs;
  }

  const current = async (h: string) => (await fleet.must(h, sh`readlink -- ${`${rootOf(h)}/current`} || true`)).trim().split("/").pop() ?? "";
  const served = (h: string) => servedRelease(fleet, subnet, hosts, h);
  /** The hosts whose resources an operation would change (or changed), from the engine's events. */
  const changedHosts = (events: EngineEvent[]) =>
    [
      ...new Set(
        events.flatMap((e) => {
          const m = e.resourcePreEvent?.metadata;
          if (!m || m.op === "same" || m.op === "refresh" || m.op === "read") return [];
          const name = m.urn.split("::").pop() ?? "";
          const host = hosts.find((h) => name === `app-${h}-state` || name === `app-${h}-prepare` || name.endsWith(`-${h}-cycle`));
          return host ? [host] : [];
        }),
      ),
    ].sort();
  /** `served` of each host's HostState in the stack's state. */
  async function stateServed(): Promise<Record<string, string>> {
    const state = await stack.exportStack();
    const resources = (state.deployment as { resources: Array<{ type: string; outputs?: { host?: string; served?: string } }> }).resources;
    return Object.fromEntries(resources.filter((r) => r.type === "cutover:index:HostState").map((r) => [r.outputs!.host!, r.outputs!.served!]));
  }

  beforeAll(async () => {
    requireEngine();
    fs.cpSync(path.join(repoRoot, "stacks", "sample-app"), appDir, { recursive: true });
    underTest = await stackUnderTest(stackName, {
      "cutover:provider": "local",
      "cutover:fleet": { subnet, baseDir, hosts: hosts.map((name) => ({ name, roles: ["web"] })), appEnvironment: { START_DELAY_MS: "500" } },
    });
    stack = underTest.stack;
    fleet = fleetAccess(await deploy("1"));
    await deploy("2");
  }, 400_000);

  afterAll(async () => {
    await underTest?.teardown();
    fs.rmSync(appDir, { recursive: true, force: true });
  }, 300_000);

  it("two hosts switched by hand: preview --refresh lists exactly them, refresh records it, a plain up puts them back with 0 failed", async () => {
    for (const h of ["web2", "web3"]) {
      await fleet.must(h, sh`ln -sfn ${`${rootOf(h)}/releases/${ids["1"]}`} ${`${rootOf(h)}/current.drift`} && mv -T ${`${rootOf(h)}/current.drift`} ${`${rootOf(h)}/current`}`);
    }
    const seenByPlainPreview: EngineEvent[] = [];
    await stack.preview({ onEvent: (e) => seenByPlainPreview.push(e) });
    // Without a refresh nothing on the hosts is read: the state still says every host is on 2.
    expect(changedHosts(seenByPlainPreview)).toEqual([]);

    const previewed: EngineEvent[] = [];
    await stack.preview({ refresh: true, onEvent: (e) => previewed.push(e) });
    expect(changedHosts(previewed)).toEqual(["web2", "web3"]);
    expect(await stateServed()).toEqual({ web1: ids["2"], web2: ids["2"], web3: ids["2"], web4: ids["2"] }); // a preview writes nothing

    await stack.refresh();
    expect(await stateServed()).toEqual({ web1: ids["2"], web2: ids["1"], web3: ids["1"], web4: ids["2"] });

    const load = startLoad(lbUrl, { ...E2E_LOAD, maxSeconds: 200 });
    const events: EngineEvent[] = [];
    let error: string | undefined;
    try {
      await stack.up({ onEvent: (e) => events.push(e) });
    } catch (e) {
      error = (e as Error).message;
    }
    const result = await load.stop();
    console.log(`[drift] web2, web3 cycled back: ${result.requests} requests, ${result.failed} failed`);
    expect(error).toBeUndefined();
    expect(result.failed).toBe(0);
    expect(changedHosts(events)).toEqual(["web2", "web3"]);
    const switched = latestDeployEvents(key).flatMap((e) => (e.kind === "phase" && e.phase === "switched" ? [e.host] : []));
    expect(switched.sort()).toEqual(["web2", "web3"]);
    for (const h of hosts) {
      expect(await current(h), h).toBe(ids["2"]);
      expect(await served(h), h).toBe(ids["2"]);
    }
    expect(await stateServed()).toEqual({ web1: ids["2"], web2: ids["2"], web3: ids["2"], web4: ids["2"] });
  }, 400_000);

  it("a host whose live release directory was emptied by hand: seen by refresh, refused by up until inspected, then prepared again and cycled", async () => {
    // `current` still names the release; its directory (the .prepared marker with it) is empty.
    const live = `${rootOf("web3")}/releases/${ids["2"]}`;
    await fleet.must("web3", sh`rm -rf -- ${live} && mkdir -- ${live}`);
    await stack.refresh();
    expect((await stateServed()).web3).toBe(`${ids["2"]}${NOT_PREPARED}`);
    // What the app runs from was changed by hand: the prepare step will not overwrite it unseen.
    const refused = await stack.up().then(
      () => "",
      (e: Error) => e.message,
    );
    expect(refused).toContain(`cutover[web3] prepare: ${live} is the live release but has no .prepared marker; it was changed by hand — inspect it before deploying`);
    for (const h of hosts) expect(await current(h), h).toBe(ids["2"]);
    // Inspected and moved away: the next plain up prepares it again and cycles web3 alone.
    await fleet.must("web3", sh`rm -rf -- ${live}`);
    const events: EngineEvent[] = [];
    await stack.up({ onEvent: (e) => events.push(e) });
    expect(changedHosts(events)).toEqual(["web3"]);
    const phases = latestDeployEvents(key).flatMap((e) => (e.kind === "phase" && e.host === "web3" ? [e.phase] : []));
    expect(phases).toContain("prepared");
    expect(phases).toContain("switched");
    expect(await served("web3")).toBe(ids["2"]);
    expect((await stateServed()).web3).toBe(ids["2"]);
  }, 400_000);

  it("a host whose deploy root was wiped is prepared again and cycled; an unchanged up afterwards changes nothing", async () => {
    await fleet.must("web4", sh`rm -rf -- ${`${rootOf("web4")}/current`} ${`${rootOf("web4")}/releases`}`);
    await stack.refresh();
    expect((await stateServed()).web4).toBe("");
    const events: EngineEvent[] = [];
    await stack.up({ onEvent: (e) => events.push(e) });
    expect(changedHosts(events)).toEqual(["web4"]);
    const phases = latestDeployEvents(key).flatMap((e) => (e.kind === "phase" && e.host === "web4" ? [e.phase] : []));
    expect(phases).toContain("prepared");
    expect(phases).toContain("switched");
    expect(await current("web4")).toBe(ids["2"]);
    expect(await served("web4")).toBe(ids["2"]);

    const again: EngineEvent[] = [];
    const up = await stack.up({ onEvent: (e) => again.push(e) });
    expect(changedHosts(again)).toEqual([]);
    expect(Object.keys(up.summary.resourceChanges ?? {})).toEqual(["same"]);
  }, 400_000);
});

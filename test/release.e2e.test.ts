// The release pipeline on the real engine and a real local fleet: artifact → parallel
// prepare → migrate once → atomic swap → prune, across many deploys of the sample app.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Stack, UpOptions, UpResult } from "@pulumi/pulumi/automation";
import { repoRoot, requireEngine, stackUnderTest, StackUnderTest } from "./support/engine";
import { FleetAccess, fleetAccess, sshLogins as loginsOn, servedRelease } from "./support/fleet";
import { sh } from "../lib/scripts/quote";
import { latestDeployEvents } from "../lib/runner/events";

const stackName = "releasetest";
const baseDir = "/var/lib/cutover/test-fleets";
const fleetDir = `${baseDir}/${stackName}`;
const subnet = "127.79.0";
const hosts = ["web1", "web2", "web3", "worker1"];
const rootOf = (host: string) => `${fleetDir}/${host}/app`;

const appDir = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-release-app-"));
const baseApp = {
  source: appDir,
  prepare: { linkedDirs: ["log"] as string[], installCommand: undefined as string | undefined },
  migration: { host: "web1", command: "node migrate.js" },
  keepReleases: 5,
  deployer: "release-test",
  // About the release pipeline: the stability window is under test in runner-faults.
  rollout: { stableSeconds: 0 },
};

describe("the release pipeline on the local fleet", () => {
  let underTest: StackUnderTest;
  let stack: Stack;
  let fleet: FleetAccess;
  const ids: Record<string, string> = {};

  /** Deploys the sample app with VERSION=<version>; returns the up result. */
  async function deploy(version: string, prepare: Partial<typeof baseApp.prepare> = {}, upOptions: UpOptions = {}): Promise<UpResult> {
    fs.writeFileSync(path.join(appDir, "VERSION"), `${version}\n`);
    const app = { ...baseApp, version, prepare: { ...baseApp.prepare, ...prepare } };
    await stack.setConfig("cutover:app", { value: JSON.stringify(app) });
    const up = await stack.up(upOptions);
    ids[version] = up.outputs.releaseId.value as string;
    return up;
  }

  const currentOf = async (host: string) => (await fleet.must(host, sh`readlink ${`${rootOf(host)}/current`}`)).trim();
  const releasesOn = async (host: string) =>
    (await fleet.must(host, sh`ls ${`${rootOf(host)}/releases`}`)).split("\n").filter(Boolean).sort();
  const served = (host: string) => servedRelease(fleet, subnet, hosts, host);
  const migrationLog = async () =>
    (await fleet.must("web1", sh`cat ${`${rootOf("web1")}/shared/migrations.log`}`)).split("\n").filter(Boolean).map((l) => JSON.parse(l).release as string);
  const sshLogins = (host: string) => loginsOn(fleetDir, host);

  beforeAll(async () => {
    requireEngine();
    fs.cpSync(path.join(repoRoot, "stacks", "sample-app"), appDir, { recursive: true });
    underTest = await stackUnderTest(stackName, {
      "cutover:provider": "local",
      "cutover:fleet": { subnet, baseDir, hosts: hosts.map((name) => ({ name, roles: [name.startsWith("web") ? "web" : "worker"] })) },
    });
    stack = underTest.stack;
    const up = await deploy("1");
    fleet = fleetAccess(up.outputs);
  }, 300_000);

  afterAll(async () => {
    await underTest?.teardown();
    fs.rmSync(appDir, { recursive: true, force: true });
  }, 300_000);

  it("deploys v1 to every host: current points at it and the app serves it", async () => {
    expect(ids["1"]).toMatch(/^1-[0-9a-f]{12}$/);
    for (const host of hosts) {
      expect(await currentOf(host)).toBe(`releases/${ids["1"]}`);
      expect(await served(host)).toBe(ids["1"]);
    }
  });

  it("deploys v2 everywhere, keeps v1 on disk, and an unchanged up changes and uploads nothing", async () => {
    await deploy("2");
    expect(ids["2"]).not.toBe(ids["1"]);
    for (const host of hosts) {
      expect(await served(host)).toBe(ids["2"]);
      expect(await releasesOn(host)).toEqual([ids["1"], ids["2"]].sort());
      // The upload is removed once unpacked: old tarballs never pile up.
      expect(await fleet.must(host, sh`ls -A ${`${rootOf(host)}/.cutover/uploads`}`)).toBe("");
    }
    const logins = hosts.map(sshLogins);
    const again = await stack.up();
    expect(Object.keys(again.summary.resourceChanges ?? {})).toEqual(["same"]);
    expect(hosts.map(sshLogins)).toEqual(logins); // nothing ran, nothing was copied
  }, 300_000);

  it("stops before any swap when install fails on one host, naming host and step, leaving the host lock free", async () => {
    await fleet.must("web2", sh`touch ${`${rootOf("web2")}/shared/FAIL_INSTALL`}`);
    const installCommand = 'if [ -e ../../shared/FAIL_INSTALL ]; then echo "disk check failed" >&2; exit 3; fi';
    let output = "";
    const failed = await deploy("3", { installCommand }).then(
      () => "succeeded",
      (e: Error) => e.message,
    );
    expect(failed).not.toBe("succeeded");
    output = failed;
    expect(output).toMatch(/cutover\[web2\] install: /);
    expect(output).toContain("disk check failed");
    for (const host of hosts) {
      expect(await currentOf(host)).toBe(`releases/${ids["2"]}`);
      expect(await served(host)).toBe(ids["2"]);
      // The host lock is free: flock -n succeeds at once.
      expect((await fleet.run(host, sh`flock -n ${`${rootOf(host)}/.cutover/deploy.lock`} true`)).code).toBe(0);
    }
    await fleet.must("web2", sh`rm -f ${`${rootOf("web2")}/shared/FAIL_INSTALL`}`);
  }, 300_000);

  it("runs each release's migration exactly once, also when a release is deployed again", async () => {
    // One step at a time in the engine (--parallel 1): the first prepare step still starts the
    // prepare of every host, so the uploads never queue behind the engine.
    await deploy("3", {}, { parallel: 1 });
    const phases = latestDeployEvents(`cutover/${stackName}/app`).flatMap((e) => (e.kind === "phase" ? [e] : []));
    const firstPrepared = Math.min(...phases.filter((e) => e.phase === "prepared").map((e) => e.t));
    const started = phases.filter((e) => e.phase === "prepare" && e.t <= firstPrepared).map((e) => e.host);
    expect(started.sort()).toEqual([...hosts].sort());
    await deploy("2"); // a rollback: prepared already, migrated already
    for (const host of hosts) expect(await served(host)).toBe(ids["2"]);
    expect(await migrationLog()).toEqual([ids["1"], ids["2"], ids["3"]]);
  }, 300_000);

  it("keeps exactly keepReleases=5 releases after seven, current and previous among them", async () => {
    for (const v of ["4", "5", "6", "7"]) await deploy(v);
    for (const host of hosts) {
      const present = await releasesOn(host);
      expect(present).toHaveLength(5);
      expect(present).toContain(ids["7"]);
      expect(present).toContain(ids["6"]);
      expect(await currentOf(host)).toBe(`releases/${ids["7"]}`);
      expect((await fleet.must(host, sh`cat ${`${rootOf(host)}/.cutover/previous`}`)).trim()).toBe(ids["6"]);
    }
    expect(await migrationLog()).toEqual(["1", "2", "3", "4", "5", "6", "7"].map((v) => ids[v]));
    const history = (await fleet.must("web3", sh`cat ${`${rootOf("web3")}/.cutover/history.log`}`)).split("\n").filter(Boolean);
    expect(history.map((l) => JSON.parse(l).release)).toEqual(["1", "2", "3", "2", "4", "5", "6", "7"].map((v) => ids[v]));
  }, 600_000);
});

// Fifty deploys in a row with keepReleases 5, on the real engine and a one-host local fleet:
// every host keeps exactly five releases, the disk used by releases/ stays flat, and what
// failed attempts leave behind (a half-prepared release, a `.partial` unpack, an upload cut
// short) is removed by the next deploy. Kept fast: one host, no boot delay, no load.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Stack } from "@pulumi/pulumi/automation";
import { repoRoot, requireEngine, stackUnderTest, StackUnderTest } from "./support/engine";
import { FleetAccess, fleetAccess, servedRelease } from "./support/fleet";
import { sh } from "../lib/scripts/quote";
import { buildArtifact } from "../lib/artifact";
import { preparedReleaseId } from "../lib/plan";

const stackName = "faultchurn";
const baseDir = "/var/lib/cutover/test-fleets";
const fleetDir = `${baseDir}/${stackName}`;
const subnet = "127.96.0";
const hosts = ["web1"];
const keep = 5;
const deploys = 50;
const appDir = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-churn-app-"));
const artifactsDir = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-churn-artifacts-"));
const rootOf = (h: string) => `${fleetDir}/${h}/app`;
const INSTALL = 'v=$(cat VERSION); if [ -e "log/fail-install-$v" ]; then echo "install failed for release $v (flag file)" >&2; exit 1; fi';

describe(`${deploys} deploys in a row with keepReleases ${keep}`, () => {
  let underTest: StackUnderTest;
  let stack: Stack;
  let fleet: FleetAccess;

  async function deploy(version: string): Promise<{ id?: string; error?: string }> {
    fs.writeFileSync(path.join(appDir, "VERSION"), `${version}\n`);
    const app = {
      source: appDir,
      version,
      keepReleases: keep,
      prepare: { linkedDirs: ["log"], installCommand: INSTALL },
      rollout: { batchSize: 1, hideFromLoadBalancer: false, smoke: { path: "/healthz", deadlineSeconds: 10 }, stableSeconds: 0 }, // about pruning, not the stability window
    };
    await stack.setConfig("cutover:app", { value: JSON.stringify(app) });
    // By the CLI (50 times: the Automation API's bookkeeping runs would add ~2 min); the id is
    // the one the program builds from the same tree, label and prepare settings, content-addressed.
    const up = await underTest.cliUp();
    if (!up.ok) return { error: up.output };
    return { id: preparedReleaseId((await buildArtifact({ sourceDir: appDir, versionLabel: version, outDir: artifactsDir })).releaseId, app.prepare) };
  }

  const releasesOn = (h: string) => fs.readdirSync(`${rootOf(h)}/releases`).sort();
  const uploadsOn = (h: string) => fs.readdirSync(`${rootOf(h)}/.cutover/uploads`);
  /** `du -sk releases/` on the host, as its operator would measure it. */
  const diskKb = async (h: string) => Number((await fleet.must(h, sh`du -sk ${`${rootOf(h)}/releases`}`)).split(/\s/)[0]);

  beforeAll(async () => {
    requireEngine();
    fs.cpSync(path.join(repoRoot, "stacks", "sample-app"), appDir, { recursive: true });
    underTest = await stackUnderTest(stackName, {
      "cutover:provider": "local",
      "cutover:fleet": { subnet, baseDir, hosts: hosts.map((name) => ({ name, roles: ["web"] })) },
    });
    stack = underTest.stack;
  }, 300_000);

  afterAll(async () => {
    await underTest?.teardown();
    fs.rmSync(appDir, { recursive: true, force: true });
    fs.rmSync(artifactsDir, { recursive: true, force: true });
  }, 300_000);

  it("five releases per host, releases/ flat on disk, leftovers of failed attempts removed", async () => {
    const ids: string[] = [];
    const usage: Record<string, number[]> = Object.fromEntries(hosts.map((h) => [h, []]));
    const started = Date.now();
    for (let v = 1; v <= deploys; v++) {
      if (v === 25) {
        // A failed attempt (install fails after the release was unpacked), and
        // what a killed deploy leaves: an upload cut short and an unpack never renamed.
        await fleet.must("web1", sh`touch ${`${rootOf("web1")}/shared/log/fail-install-24b`}`);
        const failed = await deploy("24b");
        expect(failed.error).toMatch(/cutover: web1: prepare failed: install failed for release 24b \(flag file\).*No host was switched; fix the cause and run `pulumi up` again/);
        for (const h of hosts) {
          await fleet.must(
            h,
            [
              sh`head -c 200000 /dev/urandom > ${`${rootOf(h)}/.cutover/uploads/24c-0123456789ab.tar.gz.deadbeef.part`}`,
              sh`mkdir -p ${`${rootOf(h)}/releases/.24c-0123456789ab.partial/lib`}`,
              sh`head -c 200000 /dev/urandom > ${`${rootOf(h)}/releases/.24c-0123456789ab.partial/lib/blob`}`,
            ].join(" && "),
          );
        }
        const halfPrepared = releasesOn("web1").filter((r) => r.startsWith("24b-"));
        expect(halfPrepared).toHaveLength(1);
        expect(fs.existsSync(`${rootOf("web1")}/releases/${halfPrepared[0]}/.prepared`)).toBe(false);
      }
      const { id, error } = await deploy(String(v));
      expect(error, `deploy ${v}`).toBeUndefined();
      ids.push(id!);
      if (v === 1) {
        fleet = fleetAccess(await stack.outputs());
        for (const h of hosts) await fleet.must(h, sh`printf '%s keeps this\n' ${h} > ${`${rootOf(h)}/shared/log/keep-me`}`);
      }
      if (v === 25) {
        for (const h of hosts) {
          expect(releasesOn(h).filter((r) => r.startsWith("."))).toEqual([]);
          expect(uploadsOn(h)).toEqual([]);
        }
        expect(releasesOn("web1").filter((r) => r.startsWith("24b-"))).toEqual([]); // the half-prepared one went
      }
      if (v >= keep) for (const h of hosts) usage[h].push(await diskKb(h));
      if (v % 10 === 0) console.log(`[fault] 8 churn: ${v} deploys in ${((Date.now() - started) / 1000).toFixed(0)} s; releases/ ${hosts.map((h) => `${h} ${usage[h].at(-1)} kB`).join(", ")}`);
    }

    for (const h of hosts) {
      expect(releasesOn(h)).toEqual(ids.slice(-keep).sort());
      for (const r of releasesOn(h)) expect(fs.existsSync(`${rootOf(h)}/releases/${r}/.prepared`)).toBe(true);
      expect(fs.readlinkSync(`${rootOf(h)}/current`)).toBe(`releases/${ids.at(-1)}`);
      expect(uploadsOn(h)).toEqual([]);
      expect(fs.readFileSync(`${rootOf(h)}/shared/log/keep-me`, "utf8")).toBe(`${h} keeps this\n`);
      const min = Math.min(...usage[h]);
      const max = Math.max(...usage[h]);
      console.log(`[fault] 8 churn: ${h} releases/ from deploy ${keep} to ${deploys}: ${min}-${max} kB (${usage[h].length} measurements)`);
      expect(max).toBeLessThanOrEqual(min * 1.1);
      expect(await servedRelease(fleet, subnet, hosts, h)).toBe(ids.at(-1));
    }
    console.log(`[fault] 8 churn: ${deploys} deploys + 1 failed attempt in ${((Date.now() - started) / 1000).toFixed(0)} s, no load (0 requests)`);
  }, 900_000);
});

// Existing servers (`cutover:provider: ssh`) for real: a fleet stack (the local fleet, no app)
// and an app stack apart, on one backend, as teams split them. The app stack takes the hosts'
// addresses, pinned host keys, gateway, HAProxy admin socket and the deploy key from the fleet
// stack through a StackReference, deploys v1, then v2 under load with no failed request; the
// fleet stack's `up` afterwards changes nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Stack } from "@pulumi/pulumi/automation";
import { TempProject, repoRoot, requireEngine, stackOnSharedBackend, tearDownStacks } from "./support/engine";
import { E2E_LOAD, FleetAccess, backendStatus, fleetAccess, servedRelease } from "./support/fleet";
import { startLoad } from "../stacks/load";
import { runProcess } from "../lib/engine/command-provider/run";

const cliMain = path.join(repoRoot, "dist", "lib", "cli", "main.js");

const fleetStack = "invfleet";
const appStack = "invapp";
const subnet = "127.93.0";
const baseDir = "/var/lib/cutover/test-fleets";
const hosts = ["web1", "web2", "web3"];
const lbUrl = `http://${subnet}.2:8080/`;
const adminSocket = `${baseDir}/${fleetStack}/lb/haproxy/admin.sock`;
const appDir = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-inventory-app-"));

describe("an app stack deploying to a fleet stack's servers over SSH (StackReference)", () => {
  const projects: TempProject[] = [];
  let fleet: Stack;
  let app: Stack;
  let access: FleetAccess;

  const stackOf = (name: string, config: Record<string, unknown>) => stackOnSharedBackend(projects, name, config);

  async function deploy(version: string) {
    fs.writeFileSync(path.join(appDir, "VERSION"), `${version}\n`);
    const config = { source: appDir, version, prepare: { linkedDirs: ["log"] }, deployer: "inventory-test", rollout: { batchSize: 1, stableSeconds: 0 } }; // the window is under test in runner-faults
    await app.setConfig("cutover:app", { value: JSON.stringify(config) });
    return app.up();
  }

  const served = (h: string) => servedRelease(access, subnet, hosts, h);

  beforeAll(async () => {
    requireEngine();
    fs.cpSync(path.join(repoRoot, "stacks", "sample-app"), appDir, { recursive: true });
    fleet = await stackOf(fleetStack, {
      "cutover:provider": "local",
      "cutover:fleet": { subnet, baseDir, hosts: hosts.map((name) => ({ name, roles: ["web"] })), appEnvironment: { START_DELAY_MS: "1000" } },
    });
    access = fleetAccess((await fleet.up()).outputs);
    app = await stackOf(appStack, { "cutover:provider": "ssh", "cutover:inventory": { fromStack: `organization/cutover/${fleetStack}` } });
  }, 300_000);

  afterAll(async () => {
    await tearDownStacks([app, fleet], projects);
    fs.rmSync(appDir, { recursive: true, force: true });
  }, 300_000);

  it("the fleet stack publishes an inventory without the private key, which it exports only as a secret", async () => {
    const out = await fleet.outputs();
    expect(out.deployKey.secret).toBe(true);
    expect(JSON.stringify(out.inventory.value)).not.toContain("PRIVATE KEY");
    const inv = out.inventory.value as { hosts: Array<{ name: string; address: string; hostKey: string; gateway: string }> };
    expect(inv.hosts.map((h) => [h.name, h.address, h.gateway])).toEqual(hosts.map((h, i) => [h, `${subnet}.${10 + i}`, "gateway"]));
    for (const h of inv.hosts) expect(h.hostKey).toMatch(/^ssh-ed25519 AAAA/);
  });

  it("deploys v1, then v2 under load with 0 failed requests; the fleet stack is left unchanged", async () => {
    const v1 = await deploy("1");
    const id1 = v1.outputs.releaseId.value as string;
    for (const h of hosts) expect(await served(h)).toBe(id1);
    expect(v1.outputs.rolloutPlan.value).toEqual(hosts.map((h, i) => `batch ${i + 1}/3 (hidden from the load balancer): ${h}`));

    const load = startLoad(lbUrl, { ...E2E_LOAD, maxSeconds: 240 });
    let error: string | undefined;
    let id2 = "";
    try {
      id2 = (await deploy("2")).outputs.releaseId.value as string;
    } catch (e) {
      error = (e as Error).message;
    }
    const result = await load.stop();
    console.log(`[inventory] v1→v2 through the fleet stack's HAProxy: ${result.requests} requests in ${result.seconds} s, ${result.failed} failed`);
    expect(error).toBeUndefined();
    expect(result.requests / result.seconds).toBeGreaterThan(500); // the paced load kept flowing
    expect(result.failed).toBe(0);
    for (const h of hosts) expect(await served(h)).toBe(id2);
    expect(Object.values(await backendStatus(access, adminSocket, "web"))).toEqual(["UP", "UP", "UP"]);

    // `cutover status` of the app stack reaches the same servers from its own outputs (the
    // endpoints and key it was given through the StackReference).
    const status = await runProcess(process.execPath, [cliMain, "status", "--json", "--stack", appStack, "--cwd", app.workspace.workDir], {
      env: { ...process.env, ...app.workspace.envVars },
    });
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).not.toContain("PRIVATE KEY");
    const seen = JSON.parse(status.stdout) as { release: string; hosts: Array<{ host: string; current: string; serves: string; loadBalancer: string; lock: { held: boolean } }> };
    expect(seen.release).toBe(id2);
    expect(seen.hosts.map((h) => ({ host: h.host, current: h.current, serves: h.serves, lb: h.loadBalancer, held: h.lock.held }))).toEqual(
      hosts.map((host) => ({ host, current: id2, serves: id2, lb: "UP", held: false })),
    );

    const again = await fleet.up();
    console.log(`[inventory] fleet stack up afterwards: ${JSON.stringify(again.summary.resourceChanges)}`);
    expect(Object.keys(again.summary.resourceChanges ?? {})).toEqual(["same"]);
  }, 600_000);

  it("takes the same servers from inline config, the key from a secret config value", async () => {
    const out = await fleet.outputs();
    const inline = await stackOf("invinline", { "cutover:provider": "ssh", "cutover:inventory": out.inventory.value });
    try {
      await inline.setConfig("cutover:sshPrivateKey", { value: out.deployKey.value as string, secret: true });
      fs.writeFileSync(path.join(appDir, "VERSION"), "1\n");
      await inline.setConfig("cutover:app", { value: JSON.stringify({ source: appDir, version: "1", deployer: "inventory-test" }) });
      const preview = await inline.preview({ diff: true });
      for (const [i, h] of hosts.entries()) expect(preview.stdout).toContain(`"batch ${i + 1}/3 (hidden from the load balancer): ${h}"`);
      expect(preview.stdout).not.toContain("PRIVATE KEY");
    } finally {
      await inline.workspace.removeStack("invinline", { force: true }).catch(() => undefined);
    }
  }, 120_000);

  it("refuses a fleet stack that publishes no inventory, saying what to do", async () => {
    const other = await stackOf("invnone", { "cutover:provider": "ssh", "cutover:inventory": { fromStack: `organization/cutover/${appStack}` } });
    try {
      await expect(other.preview()).rejects.toThrow(/stack organization\/cutover\/invapp has no output "inventory": run `pulumi up` on it first/);
    } finally {
      await other.workspace.removeStack("invnone", { force: true }).catch(() => undefined);
    }
  }, 120_000);
});

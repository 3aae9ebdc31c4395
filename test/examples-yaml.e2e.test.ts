// examples/yaml for real: a YAML program (the pulumi-yaml language host, built by
// scripts/engine.sh) uses the package's Deployment component, served by Cutover's plugin, to
// deploy the sample app to the servers of a fleet stack (the local fleet) read through a
// StackReference: v1, then v2 under load with 0 failed requests; an unchanged `up` changes
// nothing; a misspelt key is refused by the schema before any host changes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { TempProject, repoRoot, requireEngine, stackOnSharedBackend, tearDownStacks } from "./support/engine";
import { FleetAccess, backendStatus, fleetAccess, servedRelease, underLoad } from "./support/fleet";

const fleetStack = "yamlfleet";
const subnet = "127.86.0";
const baseDir = "/var/lib/cutover/test-fleets";
const hosts = ["web1", "web2", "web3"];
const lbUrl = `http://${subnet}.2:8080/`;
const adminSocket = `${baseDir}/${fleetStack}/lb/haproxy/admin.sock`;

describe("examples/yaml: a YAML program deploys through the package's Deployment component", () => {
  const projects: TempProject[] = [];
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-yaml-example-"));
  let fleet: Stack;
  let app: Stack;
  let access: FleetAccess;
  const served = (h: string) => servedRelease(access, subnet, hosts, h);

  beforeAll(async () => {
    requireEngine();
    fleet = await stackOnSharedBackend(projects, fleetStack, {
      "cutover:provider": "local",
      "cutover:fleet": { subnet, baseDir, hosts: hosts.map((name) => ({ name, roles: ["web"] })), appEnvironment: { START_DELAY_MS: "1000" } },
    });
    access = fleetAccess((await fleet.up()).outputs);
    // The example as committed, beside a copy of the sample app; its package path made absolute.
    const program = fs.readFileSync(path.join(repoRoot, "examples", "yaml", "Pulumi.yaml"), "utf8");
    expect(program).toContain("cutover: ../../scripts/plugin");
    fs.writeFileSync(path.join(workDir, "Pulumi.yaml"), program.replace("cutover: ../../scripts/plugin", `cutover: ${path.join(repoRoot, "scripts", "plugin")}`));
    fs.cpSync(path.join(repoRoot, "stacks", "sample-app"), path.join(workDir, "app"), { recursive: true });
    app = await LocalWorkspace.createStack({ stackName: "yamlapp", workDir }, { envVars: projects[0].envVars });
    await app.setAllConfig({ fleetStack: { value: `organization/cutover/${fleetStack}` }, source: { value: "app" }, version: { value: "1" } });
  }, 300_000);

  afterAll(async () => {
    await tearDownStacks([app, fleet], projects);
    fs.rmSync(workDir, { recursive: true, force: true });
  }, 300_000);

  it("deploys v1, then v2 under load with 0 failed requests; an unchanged up changes nothing", async () => {
    const v1 = await app.up();
    const id1 = v1.outputs.releaseId.value as string;
    expect(id1).toMatch(/^1-[0-9a-f]{12}$/);
    expect(v1.outputs.rolloutPlan.value).toEqual(hosts.map((h, i) => `batch ${i + 1}/3 (hidden from the load balancer): ${h}`));
    for (const h of hosts) expect(await served(h)).toBe(id1);

    await app.setConfig("version", { value: "2" });
    let id2 = "";
    const { load, error } = await underLoad(lbUrl, async () => {
      id2 = (await app.up()).outputs.releaseId.value as string;
    });
    console.log(`[examples-yaml] v1→v2 from YAML: ${load.requests} requests in ${load.seconds} s, ${load.failed} failed`);
    expect(error).toBeUndefined();
    expect(load.failed).toBe(0);
    expect(id2).toMatch(/^2-[0-9a-f]{12}$/);
    for (const h of hosts) expect(await served(h)).toBe(id2);
    expect(Object.values(await backendStatus(access, adminSocket, "web"))).toEqual(["UP", "UP", "UP"]);

    const again = await app.up();
    console.log(`[examples-yaml] unchanged up: ${JSON.stringify(again.summary.resourceChanges)}`);
    expect(Object.keys(again.summary.resourceChanges ?? {})).toEqual(["same"]);
  }, 600_000);

  it("refuses a misspelt key from the package's schema, naming it and the keys there are", async () => {
    const file = path.join(workDir, "Pulumi.yaml");
    const good = fs.readFileSync(file, "utf8");
    fs.writeFileSync(file, good.replace("batchSize: 1", "batchsize: 1"));
    try {
      const err = await app.preview().then(
        () => "",
        (e: Error) => e.message,
      );
      expect(err).toContain("Cannot assign '{batchsize: number, smoke: {path: string}}' to 'cutover:index:Rollout'");
      expect(err).toMatch(/Existing properties are: batchSize/);
    } finally {
      fs.writeFileSync(file, good);
    }
  }, 120_000);

  it("refuses a bad value in one line that names the argument as written, before any host changes", async () => {
    await app.setConfig("version", { value: "v 3" });
    try {
      const err = await app.preview().then(
        () => "",
        (e: Error) => e.message,
      );
      expect(err).toContain(`property app.version with value '{v 3}' has a problem: use 1-40 characters`);
      expect(err).not.toMatch(/<ref|serializing property|\u001b\[/);
      for (const h of hosts) expect(await served(h)).toMatch(/^2-/);
    } finally {
      await app.setConfig("version", { value: "2" });
    }
  }, 120_000);
});

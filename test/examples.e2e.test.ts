// examples/yaml and examples/sdk for real, on one fleet stack (the local fleet) whose servers
// both read through a StackReference:
// - a YAML program (the pulumi-yaml language host, built by scripts/engine.sh) uses the
//   package's Deployment component, served by Cutover's plugin;
// - a TypeScript program uses the Node.js SDK generated from the package's schema
//   (scripts/gen-sdk.sh), not the library's classes.
// Each deploys one release, then the next under load with 0 failed requests; an unchanged `up`
// changes nothing; bad input is refused before any host changes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { TempProject, repoRoot, requireEngine, stackOnSharedBackend, tearDownStacks } from "./support/engine";
import { FleetAccess, backendStatus, fleetAccess, servedRelease, underLoad } from "./support/fleet";
import { runProcess } from "../lib/engine/command-provider/run";

const fleetStack = "exfleet";
const subnet = "127.86.0";
const baseDir = "/var/lib/cutover/test-fleets";
const hosts = ["web1", "web2", "web3"];
const lbUrl = `http://${subnet}.2:8080/`;
const adminSocket = `${baseDir}/${fleetStack}/lb/haproxy/admin.sock`;
const plugin = path.join(repoRoot, "scripts", "plugin");
const tsc = path.join(repoRoot, "node_modules", "typescript", "bin", "tsc");

describe("the examples deploy through the package's Deployment component", () => {
  const projects: TempProject[] = [];
  const dirs: string[] = [];
  const apps: Stack[] = [];
  let fleet: Stack;
  let access: FleetAccess;
  const served = (h: string) => servedRelease(access, subnet, hosts, h);

  /** A copy of examples/<name> in a temp dir, beside a copy of the sample app, its package path made absolute. */
  function example(name: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `cutover-example-${name}-`));
    dirs.push(dir);
    fs.cpSync(path.join(repoRoot, "examples", name), dir, { recursive: true });
    const project = path.join(dir, "Pulumi.yaml");
    const text = fs.readFileSync(project, "utf8");
    expect(text).toContain("cutover: ../../scripts/plugin");
    fs.writeFileSync(project, text.replace("cutover: ../../scripts/plugin", `cutover: ${plugin}`));
    fs.cpSync(path.join(repoRoot, "stacks", "sample-app"), path.join(dir, "app"), { recursive: true });
    return dir;
  }

  async function appStack(name: string, workDir: string, version: string): Promise<Stack> {
    const stack = await LocalWorkspace.createStack({ stackName: name, workDir }, { envVars: projects[0].envVars });
    apps.push(stack);
    await stack.setAllConfig({ fleetStack: { value: `organization/cutover/${fleetStack}` }, source: { value: "app" }, version: { value: version } });
    return stack;
  }

  /** `first`, then `second` under load: 0 failed, every host on it and UP; then an unchanged up. */
  async function deployTwice(app: Stack, tag: string, first: string, second: string): Promise<void> {
    const v1 = await app.up();
    const id1 = v1.outputs.releaseId.value as string;
    expect(id1).toMatch(new RegExp(`^${first}-[0-9a-f]{12}$`));
    expect(v1.outputs.rolloutPlan.value).toEqual(hosts.map((h, i) => `batch ${i + 1}/3 (hidden from the load balancer): ${h}`));
    for (const h of hosts) expect(await served(h)).toBe(id1);

    await app.setConfig("version", { value: second });
    let id2 = "";
    const { load, error } = await underLoad(lbUrl, async () => {
      id2 = (await app.up()).outputs.releaseId.value as string;
    });
    console.log(`[examples] ${tag}: ${first}→${second} ${load.requests} requests in ${load.seconds} s, ${load.failed} failed`);
    expect(error).toBeUndefined();
    expect(load.failed).toBe(0);
    expect(id2).toMatch(new RegExp(`^${second}-[0-9a-f]{12}$`));
    for (const h of hosts) expect(await served(h)).toBe(id2);
    expect(Object.values(await backendStatus(access, adminSocket, "web"))).toEqual(["UP", "UP", "UP"]);

    const again = await app.up();
    console.log(`[examples] ${tag}: unchanged up ${JSON.stringify(again.summary.resourceChanges)}`);
    expect(Object.keys(again.summary.resourceChanges ?? {})).toEqual(["same"]);
  }

  const previewError = (app: Stack) =>
    app.preview().then(
      () => "",
      (e: Error) => e.message,
    );

  beforeAll(async () => {
    requireEngine();
    fleet = await stackOnSharedBackend(projects, fleetStack, {
      "cutover:provider": "local",
      "cutover:fleet": { subnet, baseDir, hosts: hosts.map((name) => ({ name, roles: ["web"] })), appEnvironment: { START_DELAY_MS: "1000" } },
    });
    access = fleetAccess((await fleet.up()).outputs);
  }, 300_000);

  afterAll(async () => {
    await tearDownStacks([...apps, fleet], projects);
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  }, 300_000);

  describe("examples/yaml", () => {
    let app: Stack;
    let workDir: string;

    beforeAll(async () => {
      workDir = example("yaml");
      app = await appStack("exyaml", workDir, "1");
    }, 120_000);

    it("deploys v1, then v2 under load with 0 failed requests; an unchanged up changes nothing", () => deployTwice(app, "yaml", "1", "2"), 600_000);

    it("refuses a misspelt key from the package's schema, naming the keys there are", async () => {
      const file = path.join(workDir, "Pulumi.yaml");
      const good = fs.readFileSync(file, "utf8");
      fs.writeFileSync(file, good.replace("batchSize: 1", "batchsize: 1"));
      try {
        const err = await previewError(app);
        expect(err).toContain("Cannot assign '{batchsize: number, smoke: {path: string}}' to 'cutover:index:Rollout'");
        expect(err).toMatch(/Existing properties are: batchSize/);
      } finally {
        fs.writeFileSync(file, good);
      }
    }, 120_000);

    it("refuses a bad value in one line that names the argument as written, before any host changes", async () => {
      await app.setConfig("version", { value: "v 3" });
      try {
        const err = await previewError(app);
        expect(err).toContain("property app.version with value '{v 3}' has a problem: use 1-40 characters");
        expect(err).not.toMatch(/<ref|serializing property/);
        for (const h of hosts) expect(await served(h)).toMatch(/^2-/);
      } finally {
        await app.setConfig("version", { value: "2" });
      }
    }, 120_000);
  });

  describe("examples/sdk", () => {
    let app: Stack;

    beforeAll(async () => {
      const workDir = example("sdk");
      expect(fs.readFileSync(path.join(workDir, "index.ts"), "utf8")).not.toMatch(/from "cutover"|lib\//);
      // What `npm run sdk` and `npm run build` do there, with this checkout's own modules.
      const gen = await runProcess("bash", [path.join(repoRoot, "scripts", "gen-sdk.sh"), path.join(workDir, "sdk")], { env: process.env });
      expect(gen.code, gen.stderr).toBe(0);
      const sdkTypes = fs.readFileSync(path.join(workDir, "sdk", "types", "input.ts"), "utf8");
      expect(sdkTypes).toContain("export interface InventoryArgs");
      for (const [link, target] of [
        ["@pulumi/pulumi", path.join(repoRoot, "node_modules", "@pulumi", "pulumi")],
        ["@types/node", path.join(repoRoot, "node_modules", "@types", "node")],
        ["@cutover/sdk", path.join(workDir, "sdk")],
      ]) {
        fs.mkdirSync(path.dirname(path.join(workDir, "node_modules", link)), { recursive: true });
        fs.symlinkSync(target, path.join(workDir, "node_modules", link));
      }
      for (const args of [["-p", "sdk"], ["-p", "."]]) {
        const built = await runProcess(process.execPath, [tsc, ...args], { cwd: workDir, env: process.env });
        expect(built.code, built.stdout + built.stderr).toBe(0);
        if (args[1] === "sdk") fs.copyFileSync(path.join(workDir, "sdk", "package.json"), path.join(workDir, "sdk", "bin", "package.json"));
      }
      app = await appStack("exsdk", workDir, "3");
    }, 180_000);

    it("deploys v3, then v4 under load with 0 failed requests; an unchanged up changes nothing", () => deployTwice(app, "sdk", "3", "4"), 600_000);

    it("the program's resource is the package's component, typed by the generated SDK", async () => {
      const state = (await app.exportStack()).deployment as { resources: Array<{ type: string; urn: string }> };
      const types = state.resources.map((r) => r.type);
      expect(types).toContain("cutover:index:Deployment");
      expect(types.filter((t) => t === "cutover:index:HostState")).toHaveLength(hosts.length);
    }, 60_000);
  });
});

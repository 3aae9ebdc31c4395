// Importable: a separate Pulumi project (test/consumer) installs Cutover from the tarball
// `npm pack` makes, with no network, and deploys the sample app with its components.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { LocalWorkspace, Stack, UpResult } from "@pulumi/pulumi/automation";
import { repoRoot, requireEngine } from "./support/engine";

const stackName = "consumer";
const subnet = "127.80.0";
const hostAddresses = [`${subnet}.10`, `${subnet}.11`];

/** GET http://<address>:<port><path> over loopback, with a hard timeout. */
function get(address: string, port: number, urlPath: string, timeoutMs = 5_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: address, port, path: urlPath, timeout: timeoutMs, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET http://${address}:${port}${urlPath}: no answer in ${timeoutMs}ms`)));
    req.on("error", reject);
  });
}

/** The body /healthz answers with, retried briefly (bounded) while the app (re)starts. */
async function healthz(address: string, port: number): Promise<string> {
  const deadline = Date.now() + 20_000;
  let last = "";
  for (;;) {
    try {
      const r = await get(address, port, "/healthz");
      if (r.status === 200) return r.body.trim();
      last = `HTTP ${r.status}: ${r.body.trim()}`;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`http://${address}:${port}/healthz never answered 200: ${last}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * Installs the packed tarball as a user's project would, with npm: beside the project's own
 * @pulumi/pulumi (test/consumer/package.json), from npm's cache where it has the packages
 * (`npm ci` of this repo filled it). No install scripts: the @pulumi packages' scripts fetch
 * plugins, which the engine here has already.
 */
function installPacked(tarball: string, dir: string): void {
  execFileSync("npm", ["install", "--prefer-offline", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel", "error", tarball], { cwd: dir, stdio: "pipe", timeout: 600_000 });
}

/** Every file under dir, relative to it (symlinks are not followed). */
function filesUnder(dir: string, prefix = ""): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(path.join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`],
  );
}

describe("Cutover as a package: a separate project installs the packed tarball and deploys", () => {
  let root: string;
  let workDir: string;
  let stack: Stack | undefined;
  let up: UpResult;

  beforeAll(async () => {
    requireEngine();
    const built = path.join(repoRoot, "dist", "lib", "index.js");
    if (!fs.existsSync(built)) {
      throw new Error(`${built} is missing: run \`npm run build\` first (npm test does); the packed package ships dist/lib only`);
    }
    root = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-consumer-"));
    const packDir = path.join(root, "pack");
    const state = path.join(root, "state");
    const appDir = path.join(root, "sample-app");
    const outDir = path.join(root, "artifacts");
    workDir = path.join(root, "program");
    for (const d of [packDir, state]) fs.mkdirSync(d);

    const packed = JSON.parse(
      execFileSync("npm", ["pack", "--json", "--pack-destination", packDir], { cwd: repoRoot, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }),
    ) as Array<{ filename: string }>;
    const tarball = path.join(packDir, packed[0].filename);
    expect(fs.existsSync(tarball)).toBe(true);

    fs.cpSync(path.join(repoRoot, "test", "consumer"), workDir, { recursive: true });
    fs.cpSync(path.join(repoRoot, "stacks", "sample-app"), appDir, { recursive: true });
    installPacked(tarball, workDir);

    stack = await LocalWorkspace.createStack(
      { stackName, workDir },
      {
        envVars: {
          PULUMI_BACKEND_URL: `file://${state}`,
          PULUMI_CONFIG_PASSPHRASE: "cutover-test",
          PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
          PULUMI_SKIP_UPDATE_CHECK: "true",
        },
      },
    );
    await stack.setConfig("consumer:appDir", { value: appDir });
    await stack.setConfig("consumer:outDir", { value: outDir });
    up = await stack.up();
  }, 300_000);

  afterAll(async () => {
    try {
      await stack?.destroy().catch((e: Error) => console.error(`consumer: destroy failed: ${e.message}`));
      await stack?.workspace.removeStack(stackName, { force: true }).catch(() => undefined);
    } finally {
      if (root) fs.rmSync(root, { recursive: true, force: true });
    }
  }, 300_000);

  it("installs cutover as a real directory holding the compiled package, not the sources", () => {
    const installed = path.join(workDir, "node_modules", "cutover");
    expect(fs.lstatSync(installed).isDirectory()).toBe(true);
    expect(fs.lstatSync(installed).isSymbolicLink()).toBe(false);
    expect(fs.existsSync(path.join(installed, "dist", "lib", "index.js"))).toBe(true);
    expect(fs.existsSync(path.join(installed, "lib"))).toBe(false);
    const files = filesUnder(installed);
    expect(files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
    // Nothing that exists only for Cutover's own tests: test files, their support code and fixtures, the dev stacks.
    expect(files.filter((f) => /\.test\.|(^|\/)(testing|test|fixtures|stacks)\//.test(f))).toEqual([]);
    expect(JSON.parse(fs.readFileSync(path.join(installed, "package.json"), "utf8")).name).toBe("cutover");
    // The `cutover` provider plugin's launcher, executable, for the project's Pulumi.yaml to name.
    fs.accessSync(path.join(installed, "scripts", "plugin", "pulumi-resource-cutover"), fs.constants.X_OK);
  });

  it("runs the program against the installed package and the project's own @pulumi/pulumi, one copy", () => {
    const resolved = up.outputs.resolved.value as { cutover: string; pulumi: string; pulumiOfCutover: string };
    const installed = fs.realpathSync(path.join(workDir, "node_modules", "cutover"));
    expect(resolved.cutover).toBe(path.join(installed, "dist", "lib", "index.js"));
    expect(resolved.cutover.startsWith(repoRoot + path.sep)).toBe(false);
    expect(resolved.pulumiOfCutover).toBe(resolved.pulumi);
    expect(resolved.pulumi).toBe(path.join(fs.realpathSync(workDir), "node_modules", "@pulumi", "pulumi", "index.js"));
    // npm's view: every package that needs @pulumi/pulumi (cutover, @pulumi/command) gets the
    // project's copy, deduped; a second copy would be a second tree of resources and config.
    const copies = execFileSync("npm", ["ls", "@pulumi/pulumi", "--all", "--parseable"], { cwd: workDir, encoding: "utf8" }).split("\n").filter(Boolean);
    expect(new Set(copies)).toEqual(new Set([path.join(fs.realpathSync(workDir), "node_modules", "@pulumi", "pulumi")]));
    const tree = execFileSync("npm", ["ls", "@pulumi/pulumi", "--all"], { cwd: workDir, encoding: "utf8" });
    console.log(`[consumer] npm ls @pulumi/pulumi:\n${tree.trim()}`);
    expect(tree).toMatch(/cutover@[^\n]*\n(.*\n)*.*@pulumi\/pulumi@3\.248\.0 deduped/);
    // @pulumi/aws is an optional peer: a project without AWS hosts does not get it.
    expect(fs.existsSync(path.join(workDir, "node_modules", "@pulumi", "aws"))).toBe(false);
  });

  it("deploys release 1 of the sample app, and both hosts serve it on /healthz", async () => {
    expect(up.summary.result).toBe("succeeded");
    const releaseId = up.outputs.releaseId.value as string;
    expect(releaseId).toMatch(/^1-[0-9a-f]{12}$/);
    const hosts = up.outputs.hosts.value as Array<{ name: string; address: string; port: number }>;
    expect(hosts.map((h) => h.address)).toEqual(hostAddresses);
    for (const h of hosts) {
      expect(h.port).toBe(8080);
      expect(await healthz(h.address, h.port)).toBe(releaseId);
    }
  }, 60_000);
});

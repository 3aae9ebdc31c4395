// Bad config on the dev stack, refused by a real `pulumi preview` of the repo's program the way
// Pulumi reports its own errors: one line naming the config key as written, the value and the
// fix; no stack trace, no inspect dump, no colour codes, and no resource (the fleet's neither).
// Bad input is refused before any fleet exists, so none is needed.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import { repoRoot, requireEngine, tempStackProject, type TempProject } from "./support/engine";
import { runProcess } from "../lib/engine/command-provider/run";

// js-yaml comes with the Pulumi SDK, without type declarations.
const yaml = require("js-yaml") as { load(text: string): unknown };

const devConfig = (yaml.load(fs.readFileSync(path.join(repoRoot, "Pulumi.dev.yaml"), "utf8")) as { config: Record<string, unknown> }).config;
const devApp = devConfig["cutover:app"] as Record<string, unknown>;
const devFleet = devConfig["cutover:fleet"] as Record<string, unknown>;
const VERSION_FIX = 'use 1-40 characters: letters, digits, ".", "_" or "-", starting with a letter or digit (e.g. "v2.3.1")';

describe("pulumi preview of the dev stack refuses bad config in one line", () => {
  let project: TempProject;
  const env = () => ({ ...process.env, ...project.envVars });

  async function preview(config: Record<string, unknown>): Promise<{ code: number; output: string }> {
    fs.writeFileSync(path.join(project.dir, "Pulumi.dev.yaml"), JSON.stringify({ config }, null, 2));
    const r = await runProcess("pulumi", ["preview", "--stack", "dev", "--non-interactive"], { cwd: project.dir, env: env() });
    return { code: r.code ?? -1, output: r.stdout + r.stderr };
  }

  beforeAll(async () => {
    requireEngine();
    project = tempStackProject("dev", devConfig);
    const init = await runProcess("pulumi", ["stack", "init", "dev", "--non-interactive"], { cwd: project.dir, env: env() });
    expect(init.code, init.stderr).toBe(0);
  });
  afterAll(() => project?.cleanup());

  it("the dev config as it is previews (the refusals below come from the bad values alone)", async () => {
    const r = await preview(devConfig);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain("command:local:Command");
  }, 60_000);

  const cases: Array<[string, Record<string, unknown>, string]> = [
    ["a version label with a space", { "cutover:app": { ...devApp, version: "v 1" } }, `cutover:app.version "v 1" is invalid: ${VERSION_FIX}`],
    ["a version label that climbs out of releases/", { "cutover:app": { ...devApp, version: "../x" } }, `cutover:app.version "../x" is invalid: ${VERSION_FIX}`],
    [
      "a source directory that is not there",
      { "cutover:app": { ...devApp, source: "stacks/no-such-app" } },
      `cutover:app.source "stacks/no-such-app" is invalid: there is no directory ${path.join(repoRoot, "stacks", "no-such-app")}; give the app's directory, relative to the project (${repoRoot}) or absolute`,
    ],
    ["a misspelt rollout key", { "cutover:app": { ...devApp, rollout: { batchsize: 2 } } }, "cutover:app.rollout.batchsize: unknown key; did you mean rollout.batchSize?"],
    ["keep_releases for keepReleases", { "cutover:app": { ...devApp, keep_releases: 3 } }, "cutover:app.keep_releases: unknown key; did you mean keepReleases?"],
    ["a misspelt prepare key", { "cutover:app": { ...devApp, prepare: { instalCommand: "npm ci" } } }, "cutover:app.prepare.instalCommand: unknown key; did you mean prepare.installCommand?"],
    ["a misspelt fleet host key", { "cutover:fleet": { ...devFleet, hosts: [{ name: "web1", role: ["web"] }] } }, "cutover:fleet.hosts[0].role: unknown key; did you mean hosts[0].roles?"],
    [
      "a misspelt inventory key (existing servers)",
      { "cutover:provider": "ssh", "cutover:inventory": { user: "deploy", hosts: [{ name: "web1", roles: ["web"], address: "10.0.0.5", hostkey: "ssh-ed25519 AAAA" }] } },
      "cutover:inventory.hosts[0].hostkey: unknown key; did you mean hosts[0].hostKey?",
    ],
    [
      "a misspelt HAProxy key in the inventory",
      { "cutover:provider": "ssh", "cutover:inventory": { hosts: [], loadBalancer: { haproxy: { host: "web1", admin_socket: "/run/haproxy.sock", backend: "web" } } } },
      "cutover:inventory.loadBalancer.haproxy.admin_socket: unknown key; did you mean loadBalancer.haproxy.adminSocket?",
    ],
    [
      "a misspelt EC2 key",
      { "cutover:provider": "aws", "cutover:aws": { vpcId: "vpc-1", instance_type: "t3.small" } },
      "cutover:aws.instance_type: unknown key; did you mean instanceType?",
    ],
    ["an unknown provider", { "cutover:provider": "lcoal" }, 'cutover:provider "lcoal" is invalid: use "local" (the embedded fleet), "ssh" (existing servers, cutover:inventory) or "aws" (cutover:aws)'],
    ["a misspelt top-level key", { "cutover:fleetname": "dev2" }, "cutover:fleetname: unknown key; did you mean cutover:fleetName?"],
    [
      "a batch that would empty the balancer",
      { "cutover:app": { ...devApp, rollout: { batchSize: 3 } } },
      'cutover:app.rollout.batchSize 3 is invalid: it would hide all 3 hosts of role "web" at once and the load balancer would have nobody to send requests to; use at most 2 (or "66%")',
    ],
  ];

  it.each(cases)("%s", async (_, bad, line) => {
    const r = await preview({ ...devConfig, ...bad });
    expect(r.code, r.output).not.toBe(0);
    const diagnostics = r.output.slice(r.output.indexOf("Diagnostics:"));
    expect(diagnostics.split("\n").filter((l) => /^\s*error: /.test(l))).toEqual([`    error: ${line}`]);
    expect(r.output).not.toContain("\x1b");
    expect(r.output).not.toContain("<ref");
    expect(r.output).not.toContain("serializing property");
    expect(r.output).not.toMatch(/^\s+at .*:\d+:\d+\)?$/m); // no stack frame
    expect(r.output).not.toMatch(/cutover:fleet:LocalFleet|cutover:deploy:|command:local:Command/); // refused before any resource
  }, 60_000);
});

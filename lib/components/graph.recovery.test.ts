// The deploy graph with Pulumi's mocks: which steps' inputs change for which change of the
// stack's settings. Only what a step means (release, host, redeploy nonce) may change its
// inputs; who deploys, smoke tuning and connection details must leave every step alone, or
// Pulumi would re-run (restart) hosts that are in rotation.
import { describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { Deployment, DeploymentArgs } from "./deployment";
import { Host } from "./host";
import { haproxyMembership } from "../providers/lb/haproxy";

type Inputs = Record<string, string>;

function host(name: string, roles: string[], hostKey = `ssh-ed25519 AAAA${name}`): Host {
  // One address per machine: Deployment refuses two hosts on one address.
  const address = `127.9.${name.length}.${name.charCodeAt(name.length - 1)}`;
  return {
    name,
    roles,
    ssh: { address, port: 2222, user: "cutover", privateKey: "PRIVATE", hostKey },
    root: `/srv/${name}`,
    restartCommand: "true",
    app: { address, port: 8080 },
    ready: [],
  };
}

/** Builds the graph with mocks and returns each command's `create` text by resource name. */
async function graph(change: Partial<DeploymentArgs> & { webKey?: string; drifted?: string } = {}): Promise<Inputs> {
  const creates: Inputs = {};
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        if (args.type === "command:local:Command") creates[args.name] = String(args.inputs.create);
        // A host's state as the cutover provider records it: `drifted` was found off its
        // release by a refresh once (its update raised the generation).
        const state = args.type === "cutover:index:HostState" ? { served: args.inputs.release, generation: args.inputs.host === change.drifted ? 1 : 0 } : {};
        return { id: `${args.name}-id`, state: { ...args.inputs, stdout: "", ...state } };
      },
      call: (args) => args.inputs,
    },
    "cutover",
    "dev",
    true,
  );
  const { webKey, drifted: _drifted, ...args } = change;
  const hosts = [host("web1", ["web"], webKey), host("web2", ["web"]), host("web3", ["web"]), host("worker1", ["worker"])];
  const lbHost = host("lb", []);
  const d = new Deployment("app", {
    hosts,
    artifact: { path: "/tmp/a.tar.gz", sha256: "ab".repeat(32), releaseId: "v2-0123456789ab" },
    deployer: "alice",
    stack: "dev",
    loadBalancer: haproxyMembership({ host: lbHost, adminSocket: "/run/haproxy.sock", backend: "web", role: "web" }),
    smoke: { path: "/healthz", deadlineSeconds: 30 },
    migration: { host: "web1", command: "npm run migrate" },
    ...args,
  });
  await new Promise<void>((resolve) => d.releaseId.apply(() => resolve()));
  // Let every apply that builds a command's text settle.
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  return creates;
}

const changed = (a: Inputs, b: Inputs) => Object.keys({ ...a, ...b }).filter((k) => a[k] !== b[k]).sort();

describe("deploy graph: which steps a change re-runs", () => {
  it("one step per host and purpose, cycles named by batch", async () => {
    const g = await graph();
    expect(Object.keys(g).sort()).toEqual(
      [
        "app-web1-prepare",
        "app-web2-prepare",
        "app-web3-prepare",
        "app-worker1-prepare",
        "app-migrate",
        "app-batch1-web1-cycle",
        "app-batch2-web2-cycle",
        "app-batch3-web3-cycle",
        "app-batch4-worker1-cycle",
      ].sort(),
    );
    expect(g["app-batch2-web2-cycle"]).toMatch(/step-main\.js cycle cutover\/dev\/app v2-0123456789ab web2$/);
  });

  it("a new release changes every step", async () => {
    const before = await graph();
    const after = await graph({ artifact: { path: "/tmp/b.tar.gz", sha256: "cd".repeat(32), releaseId: "v3-fedcba987654" } });
    expect(changed(before, after)).toEqual(Object.keys(before).sort());
  });

  it("another deployer, other smoke settings, another host key or restoreCycled change nothing", async () => {
    const before = await graph();
    expect(changed(before, await graph({ deployer: "bob (CI)" }))).toEqual([]);
    expect(changed(before, await graph({ smoke: { path: "/healthz", deadlineSeconds: 90 } }))).toEqual([]);
    expect(changed(before, await graph({ webKey: "ssh-ed25519 AAAArotated" }))).toEqual([]);
    expect(changed(before, await graph({ restoreCycled: true, keepReleases: 3 }))).toEqual([]);
  });

  it("a changed install command, linked path or build hook under the same build re-prepares and cycles every host", async () => {
    const prepare = { linkedDirs: ["log"], installCommand: "npm ci --omit=dev" };
    const before = await graph({ prepare });
    for (const other of [{ ...prepare, installCommand: "npm ci --omit=dev --ignore-scripts" }, { ...prepare, linkedDirs: ["log", "tmp"] }, { ...prepare, buildHooks: { web: ["npm run assets"] } }]) {
      expect(changed(before, await graph({ prepare: other }))).toEqual(Object.keys(before).sort());
    }
    // The same settings written otherwise are the same release: nothing runs again.
    expect(changed(before, await graph({ prepare: { installCommand: "npm ci --omit=dev ", linkedDirs: ["log/"] } }))).toEqual([]);
  });

  it("a redeploy nonce changes the cycles only (prepare and migration have nothing to redo)", async () => {
    const before = await graph();
    expect(changed(before, await graph({ redeploy: "2026-11-23" }))).toEqual(
      ["app-batch1-web1-cycle", "app-batch2-web2-cycle", "app-batch3-web3-cycle", "app-batch4-worker1-cycle"].sort(),
    );
  });

  it("a host found drifted re-prepares and cycles that host only; a redeploy nonce rides along on its cycle", async () => {
    const before = await graph();
    const drifted = await graph({ drifted: "web2" });
    expect(changed(before, drifted)).toEqual(["app-batch2-web2-cycle", "app-web2-prepare"]);
    expect(drifted["app-batch2-web2-cycle"]).toMatch(/cycle cutover\/dev\/app v2-0123456789ab web2 drift1$/);
    expect((await graph({ drifted: "web2", redeploy: "n1" }))["app-batch2-web2-cycle"]).toMatch(/ web2 n1-drift1$/);
  });

  it("a rollback by id has the same steps with the old id, and needs no artifact", async () => {
    const g = await graph({ artifact: undefined, releaseId: "v1-aaaaaaaaaaaa" });
    expect(g["app-web1-prepare"]).toMatch(/prepare cutover\/dev\/app v1-aaaaaaaaaaaa web1$/);
  });

  it("refuses a batch size that would hide every web host, before any resource exists", async () => {
    await expect(graph({ batchSize: "100%" })).rejects.toThrow(/batchSize "100%" is invalid: it would hide all 3 hosts of role "web" at once/);
  });
});

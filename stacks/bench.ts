// `npm run bench [-- --sizes 4,8,16,64 --repeats 2 --pause-ms N --batch1-max-hosts 16 --fresh]`:
// deploys of the sample app (1 s boot) under the same wrk load, on local fleets of web hosts
// (127.75.<size>.x, removed afterwards) whose every sshd (gateway, balancer, hosts) keeps
// OpenSSH's stock MaxStartups 10:30:100 and MaxSessions 10, as real servers do. Per size: an
// unchanged `up` and a preview; at batch 1 (fleets up to --batch1-max-hosts) a deploy and a
// rollback by id; at 25% deploys reusing the agent and with a new one (whose SSH handshakes
// are all of the deploy's connections), each repeated; at 4 and 8 hosts the in-place baselines
// (restart without hiding); then the overlap strategy on the same fleet's standby slots (a
// deploy and a warm rollback at 25%, each repeated, and a deploy at batch 1). Every deploy row
// has secondsBelowCapacity (HAProxy sampled every 100 ms). Writes bench/results/latest.json
// (every run, plus the earlier runs of other sizes or loads unless --fresh) and, through
// bench-report.ts, the README's table and bench/results/deploy-time.svg.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { Stack } from "@pulumi/pulumi/automation";
import { projectDir } from "./project-dir";
import { DeployOptions, deployUnderLoad, fleetAdminSocket, fleetStack, setRelease, timedPulumi } from "./driver";
import { BenchRun, writeReport } from "./bench-report";
import { validatePauseMs } from "./load";
import { latestDeployEvents, summarize } from "../lib/runner/events";

const say = (line: string) => console.log(`[bench] ${line}`);
const cli = (() => {
  try {
    return parseArgs({
      options: {
        sizes: { type: "string", default: "4,8,16,64" },
        repeats: { type: "string", default: "2" },
        "pause-ms": { type: "string", default: "0" },
        "batch1-max-hosts": { type: "string", default: "16" },
        fresh: { type: "boolean", default: false },
      },
    }).values;
  } catch (e) {
    console.error(`[bench] ${(e as Error).message} (options: --sizes 4,8,16,64 --repeats N --pause-ms N --batch1-max-hosts N --fresh)`);
    process.exit(2);
  }
})();
/** A whole number ≥ min, or one line naming the argument, the value and the fix, and exit 2. */
function count(name: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    console.error(`[bench] --${name} ${value}: expected a whole number ≥ ${min}`);
    process.exit(2);
  }
  return n;
}
const sizes = (cli.sizes ?? "").split(",").map((x) => count("sizes", x, 1));
const repeats = count("repeats", cli.repeats!, 1);
const batch1MaxHosts = count("batch1-max-hosts", cli["batch1-max-hosts"]!, 0);
// --pause-ms N: each wrk connection waits N ms between requests (a paced load); default none.
// Checked here, before any fleet is provisioned.
const pauseMs = validatePauseMs(Number(cli["pause-ms"]), "--pause-ms");
const loadLabel = pauseMs > 0 ? `wrk 2×16, ${pauseMs} ms pause per request` : undefined;
const load = () => `${os.loadavg()[0].toFixed(1)}`;

// Timed as the user's own command (see timedPulumi); fails the bench with pulumi's output.
async function timed(stack: Stack, args: string[]): Promise<number> {
  const r = await timedPulumi(stack, args);
  if (!r.ok) throw new Error(`pulumi ${args.join(" ")} failed:\n${r.output.slice(-2000)}`);
  return r.seconds;
}

async function benchSize(size: number, runs: BenchRun[]): Promise<void> {
  const hosts = Array.from({ length: size }, (_, i) => `web${i + 1}`);
  const name = `bench${size}`;
  const stack: Stack = await fleetStack(name, {
    subnet: `127.75.${size}`,
    hosts: hosts.map((n) => ({ name: n, roles: ["web"] })),
    appEnvironment: { START_DELAY_MS: "1000" },
    stockSshdLimits: true,
    // Overlap rows follow the cycle rows on the same fleet (the standby slots idle until then).
    standby: true,
  });
  const key = `cutover/${name}/app`;
  const base = { hosts: size, date: new Date().toISOString(), load: loadLabel };
  const measured = { load: { pauseMs }, capacity: { socket: fleetAdminSocket(name), backend: "web", hosts: size } };
  // Deploys reuse the agent of the `up` before (a developer's machine, a CI job deploying
  // twice); these start their own, as every `up` on a fresh CI runner does, and their SSH
  // handshakes are all of the deploy's connections.
  const coldAgent = "cutover, new agent for the up (as on a fresh CI runner)";
  try {
    say(`${size} hosts: provisioning the fleet and deploying v1 …`);
    await setRelease(stack, "1");
    const lbUrl = String((await stack.up()).outputs.lbUrl.value);
    let version = 1;
    // Rollback targets: the release before the last one, by id.
    const ids = [String((await stack.outputs()).releaseId?.value ?? "")];
    const deploy = async (tool: string, batch: 1 | "25%", opts: DeployOptions, strategy: "cycle" | "overlap" = "cycle") => {
      version += 1;
      const m = await deployUnderLoad(stack, lbUrl, String(version), { batchSize: batch, strategy }, () => undefined, opts);
      runs.push({ ...base, tool, strategy, kind: "deploy", batch: String(batch), ...m, loadAverage: load() });
      ids.push(m.releaseId);
      const out = Object.values(m.outOfRotationSeconds).map((x) => x.toFixed(1)).join("/");
      say(
        `${size} hosts, ${strategy}, batch ${batch}${opts.coldAgent ? ", new agent" : ""}: deploy ${m.deployWallSeconds} s, ${m.secondsBelowCapacity} s below capacity, ` +
          `${m.sshHandshakes} SSH handshakes, agent ${m.agentRssMB ?? "?"} MB, ${m.failed} failed of ${m.requests}, out of rotation ${out || "–"} s`,
      );
      if (m.error) throw new Error(`deploy of ${version} failed: ${m.error}`);
    };
    const noopAndPreview = async () => {
      const noop = await timed(stack, ["up", "--yes", "--skip-preview"]);
      const s = summarize(latestDeployEvents(key));
      runs.push({ ...base, tool: "cutover", kind: "noop-up", batch: "-", deployWallSeconds: noop, remoteCommands: s.remoteCommands, sshHandshakes: s.sshHandshakes, loadAverage: load() });
      const preview = await timed(stack, ["preview"]);
      runs.push({ ...base, tool: "cutover", kind: "preview", batch: "-", deployWallSeconds: preview, loadAverage: load() });
      say(`${size} hosts: unchanged up ${noop} s (${s.remoteCommands} remote commands), preview ${preview} s`);
    };
    for (let r = 0; r < repeats && size <= batch1MaxHosts; r++) {
      await deploy("cutover", 1, measured);
      // Back to the release before, by id: only swaps; then forward again, so the next round
      // starts from the latest release.
      const previous = String(version - 1);
      const m = await deployUnderLoad(stack, lbUrl, previous, { batchSize: 1 }, () => undefined, { ...measured, release: ids.at(-2) });
      runs.push({ ...base, tool: "cutover", strategy: "cycle", kind: "rollback", batch: "1", ...m, loadAverage: load() });
      say(`${size} hosts: rollback to ${ids.at(-2)} ${m.deployWallSeconds} s, ${m.uploads} uploads, ${m.failed} failed`);
      version += 1;
      await setRelease(stack, String(version));
      ids.push(String((await stack.up()).outputs.releaseId.value));
      await noopAndPreview();
    }
    // The cycle steps are named by batch (so previews show the order): a new batch size
    // replaces them, and that up also deletes the old layout's steps (two checkpoint writes
    // each). Measured apart, as users change a batch size far less often than they deploy.
    await deploy("cutover, batch size changed from 1 (old steps deleted)", "25%", measured);
    for (let r = 0; r < repeats; r++) {
      await deploy("cutover", "25%", measured);
      await deploy(coldAgent, "25%", { ...measured, coldAgent: true });
      if (size > batch1MaxHosts) await noopAndPreview();
    }
    // The naive ways, on the cycle strategy's slot: what hiding (and overlap) save.
    if (size === 4 || size === 8) {
      for (const [tool, rollout] of [
        ["in-place restart, one host at a time, no hiding", { batchSize: 1, hideFromLoadBalancer: false }],
        ["in-place restart of all hosts at once (Fabric-style)", { batchSize: "100%", hideFromLoadBalancer: false }],
      ] as const) {
        version += 1;
        const m = await deployUnderLoad(stack, lbUrl, String(version), rollout, () => undefined, measured);
        runs.push({ ...base, tool, strategy: "cycle", kind: "deploy", batch: String(rollout.batchSize), ...m, loadAverage: load() });
        ids.push(m.releaseId);
        say(`${size} hosts, ${tool}: ${m.deployWallSeconds} s, ${m.secondsBelowCapacity} s below capacity, ${m.failed} failed of ${m.requests}`);
      }
    }
    // Overlap: the new release starts in each host's standby slot and takes the traffic; a
    // rollback within warmSeconds only moves the traffic back to the slot still running it.
    for (let r = 0; r < repeats; r++) {
      await deploy("cutover", "25%", measured, "overlap");
      const m = await deployUnderLoad(stack, lbUrl, String(version - 1), { batchSize: "25%", strategy: "overlap" }, () => undefined, { ...measured, release: ids.at(-2) });
      runs.push({ ...base, tool: "cutover", strategy: "overlap", kind: "rollback", batch: "25%", ...m, loadAverage: load() });
      say(`${size} hosts, overlap: rollback to ${ids.at(-2)} ${m.deployWallSeconds} s, ${m.secondsBelowCapacity} s below capacity, ${m.failed} failed of ${m.requests}`);
      // Forward again, so the next round starts from the latest release.
      version += 1;
      await setRelease(stack, String(version), { batchSize: "25%", strategy: "overlap" });
      ids.push(String((await stack.up()).outputs.releaseId.value));
    }
    if (size <= batch1MaxHosts) await deploy("cutover", 1, measured, "overlap");
  } finally {
    await stack.destroy().catch((e: Error) => say(`destroy failed: ${e.message}`));
    await stack.workspace.removeStack(name).catch(() => undefined);
  }
}

/** Runs of other sizes or loads than this time's, from the last results: `--sizes 16` adds a size. */
function keptRuns(out: string): BenchRun[] {
  if (cli.fresh || !fs.existsSync(out)) return [];
  const kept = (JSON.parse(fs.readFileSync(out, "utf8")) as BenchRun[]).filter((r) => !(sizes.includes(r.hosts) && r.load === loadLabel));
  if (kept.length) say(`keeping ${kept.length} earlier run(s) of other sizes or loads from ${out} (--fresh drops them)`);
  return kept;
}

async function main(): Promise<void> {
  const out = path.join(projectDir, "bench", "results", "latest.json");
  const runs: BenchRun[] = keptRuns(out);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  for (const size of sizes) {
    await benchSize(size, runs);
    // Written after every size, so a failure later keeps what was measured.
    fs.writeFileSync(out, JSON.stringify(runs, null, 2) + "\n");
  }
  writeReport(runs);
  say(`wrote ${out}, bench/results/deploy-time.svg and the README's benchmark table`);
}

main().catch((err: unknown) => {
  console.error(`[bench] failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

// Shared by the demo and the benchmark: a stack of this project on its own local fleet,
// deploys of the sample app by version, and a deploy measured under load.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { projectDir } from "./project-dir";
import { runProcess } from "../lib/engine/command-provider/run";
import { LoadOptions, startLoad } from "./load";
import { followRollout } from "./progress";
import { sampleCapacity } from "./capacity";

export interface FleetSpec {
  appEnvironment?: Record<string, string>;
  /** Every sshd keeps OpenSSH's stock MaxStartups/MaxSessions, as on a real server. */
  stockSshdLimits?: boolean;
  /** A standby slot per host, for the overlap strategy. */
  standby?: boolean;
  subnet: string;
  hosts: Array<{ name: string; roles: string[] }>;
}

export interface DeployMeasure {
  releaseId: string;
  requests: number;
  failed: number;
  non2xx: number;
  socketErrors: number;
  deployWallSeconds: number;
  outOfRotationSeconds: Record<string, number>;
  secondsBeforeFirstHide?: number;
  sshHandshakes: number;
  remoteCommands: number;
  uploads: number;
  /** The agent's peak resident memory (MB) as of the deploy's last step. */
  agentRssMB?: number;
  /** Seconds in which fewer servers served than hosts, and the fewest seen (with DeployOptions.capacity). */
  secondsBelowCapacity?: number;
  fewestServing?: number;
  error?: string;
}

const cacheDir = () => process.env.CUTOVER_CACHE ?? path.join(os.homedir(), ".cache", "cutover");

/** The sample app with its VERSION file set: stacks/sample-app itself for "1", a copy otherwise. */
export function sampleAppVersion(version: string): string {
  const source = path.join(projectDir, "stacks", "sample-app");
  if (fs.readFileSync(path.join(source, "VERSION"), "utf8").trim() === version) return source;
  const dir = path.join(cacheDir(), "sample-app-versions", version);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.cpSync(source, dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "VERSION"), `${version}\n`);
  return dir;
}

/** A stack of this project (settings in Pulumi.<name>.yaml, git-ignored) on its own fleet. */
export async function fleetStack(name: string, fleet: FleetSpec): Promise<Stack> {
  const stack = await LocalWorkspace.createOrSelectStack({ stackName: name, workDir: projectDir });
  await stack.setConfig("cutover:provider", { value: "local" });
  await stack.setConfig("cutover:fleet", { value: JSON.stringify(fleet) });
  return stack;
}

/** Sets what the stack deploys; `release` targets a release already on the hosts (a rollback). */
export async function setRelease(stack: Stack, version: string, rollout: Record<string, unknown> = {}, release?: string): Promise<void> {
  const app = {
    source: sampleAppVersion(version),
    version,
    ...(release ? { release } : {}),
    prepare: { linkedDirs: ["log"] },
    migration: { host: "web1", command: "node migrate.js" },
    rollout: { batchSize: 1, smoke: { path: "/healthz", deadlineSeconds: 15 }, ...rollout },
  };
  await stack.setConfig("cutover:app", { value: JSON.stringify(app) });
}

/**
 * Runs `pulumi <args> --stack <stack>` in the project as a user would (`pulumi up --yes
 * --skip-preview` is what CI runs after its preview) and times that process. The Automation
 * API's `stack.up()` would add two more CLI runs afterwards (`stack output` and `stack
 * history`, ~1–2.5 s here) that are the caller's bookkeeping, not part of the deploy.
 */
export async function timedPulumi(stack: Stack, args: string[], env?: NodeJS.ProcessEnv): Promise<{ seconds: number; ok: boolean; output: string }> {
  const started = Date.now();
  const r = await runProcess("pulumi", [...args, "--stack", stack.name, "--non-interactive", "--color", "never"], { cwd: projectDir, env });
  return { seconds: Math.round((Date.now() - started) / 100) / 10, ok: r.code === 0, output: r.stdout + r.stderr };
}

/**
 * Runs `pulumi <args>` as timedPulumi does, with an agent of its own (a new agent directory):
 * no SSH connection pooled by an earlier `up`, as on a CI runner, so its handshakes are counted.
 */
export async function timedPulumiColdAgent(stack: Stack, args: string[]): Promise<{ seconds: number; ok: boolean; output: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-agent-"));
  try {
    return await timedPulumi(stack, args, { ...process.env, CUTOVER_AGENT_DIR: dir });
  } finally {
    // That agent exits on its own once idle; its socket goes with the directory.
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export interface DeployOptions {
  /** A release already on the hosts, targeted by id (a rollback). */
  release?: string;
  load?: LoadOptions;
  /** The `up` starts its own agent (timedPulumiColdAgent) instead of reusing the running one. */
  coldAgent?: boolean;
  /** Samples the backend every 100 ms through this HAProxy admin socket: how many of `hosts` servers serve. */
  capacity?: { socket: string; backend: string; hosts: number };
}

/** The local fleet's HAProxy admin socket (LocalFleet's layout under its base dir). */
export const fleetAdminSocket = (fleetName: string, baseDir = "/var/lib/cutover/fleets") => `${baseDir}/${fleetName}/lb/haproxy/admin.sock`;

/** Deploys `version` while wrk loads the load balancer; progress lines go to `print`. */
export async function deployUnderLoad(
  stack: Stack,
  lbUrl: string,
  version: string,
  rollout: Record<string, unknown>,
  print: (line: string) => void,
  opts: DeployOptions = {},
): Promise<DeployMeasure> {
  await setRelease(stack, version, rollout, opts.release);
  const project = (await stack.workspace.projectSettings()).name;
  const progress = followRollout(`${project}/${stack.name}/app`, print);
  const load = startLoad(lbUrl, { maxSeconds: 600, ...opts.load });
  const capacity = opts.capacity ? sampleCapacity(opts.capacity.socket, opts.capacity.backend, opts.capacity.hosts) : undefined;
  await new Promise((r) => setTimeout(r, 1000));
  const upArgs = ["up", "--yes", "--skip-preview"];
  const up = opts.coldAgent ? await timedPulumiColdAgent(stack, upArgs) : await timedPulumi(stack, upArgs);
  const summary = progress.stop();
  const error = up.ok ? undefined : (up.output.split("\n").find((l) => l.includes("did not switch")) ?? up.output.slice(-500));
  const releaseId = up.ok ? String((await stack.outputs()).releaseId?.value ?? "") : "";
  await new Promise((r) => setTimeout(r, 1000));
  const result = await load.stop();
  const sampled = await capacity?.stop();
  return {
    releaseId,
    requests: result.requests,
    failed: result.failed,
    non2xx: result.non2xx,
    socketErrors: result.socketErrors,
    deployWallSeconds: up.seconds,
    outOfRotationSeconds: summary.outOfRotationSeconds,
    secondsBeforeFirstHide: summary.secondsBeforeFirstHide,
    sshHandshakes: summary.sshHandshakes,
    remoteCommands: summary.remoteCommands,
    uploads: summary.uploads,
    agentRssMB: summary.agentRssMB,
    secondsBelowCapacity: sampled?.secondsBelowCapacity,
    fewestServing: sampled?.fewestServing,
    error,
  };
}

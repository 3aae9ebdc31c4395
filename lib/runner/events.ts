/**
 * The deploy's own record, one JSON line per event, per deploy key, on the deploying machine:
 * `<cache>/runs/<key-digest>.jsonl`. The agent appends (a new `deploy` event starts each
 * `up`); the demo, the benchmark and the progress display read it: which host is in which
 * phase since when, how long each host was out of rotation, how many SSH handshakes and
 * remote commands the deploy cost. Holds no secret: names, phases, times, counts.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export type Phase =
  | "prepare"
  | "prepared"
  | "migrate"
  | "migrated"
  | "lock"
  | "hide"
  | "hidden"
  | "switch"
  | "switched"
  | "restored"
  | "unhide"
  | "in-rotation"
  | "unchanged"
  | "left-as-found"
  | "stable-watch"
  | "stable"
  | "unstable"
  | "canary-hold"
  | "canary-passed"
  | "canary-failed"
  | "failed";

export type DeployEvent =
  | { t: number; kind: "deploy"; key: string; release: string; hosts: number; deployer: string }
  | { t: number; kind: "phase"; host: string; batch?: number; phase: Phase; detail?: string }
  | { t: number; kind: "ssh-handshake"; endpoint: string }
  | { t: number; kind: "remote-command"; endpoint: string }
  | { t: number; kind: "upload"; endpoint: string; bytes: number }
  /** The agent's peak resident memory so far (its whole life), written as each step ends. */
  | { t: number; kind: "agent-memory"; peakRssMB: number };

export function cacheDir(): string {
  return process.env.CUTOVER_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "cutover");
}

export function eventLogPath(key: string): string {
  const digest = createHash("sha256").update(key).digest("hex").slice(0, 16);
  return path.join(cacheDir(), "runs", `${digest}.jsonl`);
}

let warnedUnwritable = false;

/**
 * Appends one event. The log is a record, not part of the deploy: a write that fails (disk
 * full, directory made unwritable) must never stop the agent with hosts hidden, so it is
 * reported once on stderr and the deploy carries on.
 */
export function appendEvent(key: string, event: DeployEvent): void {
  const file = eventLogPath(key);
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    fs.appendFileSync(file, `${JSON.stringify(event)}\n`, { mode: 0o600 });
  } catch (e) {
    if (!warnedUnwritable) process.stderr.write(`cutover agent: cannot write the event log ${file}: ${(e as Error).message}; the deploy carries on without it\n`);
    warnedUnwritable = true;
  }
}

/** Events of the latest deploy of `key` (from its last `deploy` event on). */
export function latestDeployEvents(key: string): DeployEvent[] {
  let text = "";
  try {
    text = fs.readFileSync(eventLogPath(key), "utf8");
  } catch {
    return [];
  }
  const events = text.split("\n").filter(Boolean).map((l) => JSON.parse(l) as DeployEvent);
  let start = -1;
  events.forEach((e, i) => {
    if (e.kind === "deploy") start = i;
  });
  return start < 0 ? events : events.slice(start);
}

export interface DeploySummary {
  release: string;
  /** Seconds from the deploy's start to the first host leaving rotation (undefined: none did). */
  secondsBeforeFirstHide?: number;
  /** Per hidden host: seconds between hide starting and the host being back in rotation. */
  outOfRotationSeconds: Record<string, number>;
  sshHandshakes: number;
  remoteCommands: number;
  uploads: number;
  uploadedBytes: number;
  failedHosts: string[];
  /** The agent's peak resident memory as of the deploy's last step (undefined: no step ran). */
  agentRssMB?: number;
}

export function summarize(events: DeployEvent[]): DeploySummary {
  const start = events.find((e) => e.kind === "deploy");
  const hideAt: Record<string, number> = {};
  const out: Record<string, number> = {};
  let firstHide: number | undefined;
  const failed = new Set<string>();
  let handshakes = 0;
  let commands = 0;
  let uploads = 0;
  let uploadedBytes = 0;
  let agentRssMB: number | undefined;
  for (const e of events) {
    if (e.kind === "agent-memory") agentRssMB = Math.max(agentRssMB ?? 0, e.peakRssMB);
    if (e.kind === "upload") {
      uploads++;
      uploadedBytes += e.bytes;
    }
    if (e.kind === "ssh-handshake") handshakes++;
    if (e.kind === "remote-command") commands++;
    if (e.kind !== "phase") continue;
    if (e.phase === "hide") {
      hideAt[e.host] = e.t;
      firstHide ??= e.t;
    }
    if (e.phase === "in-rotation" && hideAt[e.host] !== undefined) out[e.host] = (e.t - hideAt[e.host]) / 1000;
    if (e.phase === "failed") failed.add(e.host);
  }
  return {
    release: start && start.kind === "deploy" ? start.release : "",
    secondsBeforeFirstHide: start && firstHide !== undefined ? (firstHide - start.t) / 1000 : undefined,
    outOfRotationSeconds: out,
    sshHandshakes: handshakes,
    remoteCommands: commands,
    uploads,
    uploadedBytes,
    failedHosts: [...failed],
    agentRssMB,
  };
}

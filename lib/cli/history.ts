// The stack's own update history (`pulumi stack history`) with the release each update
// deployed. The release id is the stack output `releaseId`; Pulumi's history has no outputs,
// so it comes from, in order: the checkpoint a file backend keeps beside each history entry
// (the stack's outputs after that update), `cutover:app.release` in the update's config (a
// rollback names its target), and the runner's event log on this machine (the `deploy` event
// registered while the update ran). Who deployed comes from the event log or
// `cutover:app.deployer`.
import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { UpdateSummary } from "@pulumi/pulumi/automation";
import { DeployEvent } from "../runner/events";

export interface HistoryRow {
  version: number;
  kind: string;
  started: Date;
  seconds?: number;
  result: string;
  message: string;
  /** The release the update deployed (or tried to); "" when unknown. */
  release: string;
  who: string;
  /** The update targeted a release by id (a rollback). */
  rollback: boolean;
}

type DeployRecord = Extract<DeployEvent, { kind: "deploy" }>;

function appOf(u: UpdateSummary): Record<string, unknown> {
  try {
    return JSON.parse(u.config?.["cutover:app"]?.value ?? "{}") as Record<string, unknown>;
  } catch {
    return {};
  }
}

/**
 * Rows, newest first. `outputsByStart` maps an update's start (epoch seconds) to the release
 * id in its checkpoint; `deploys` are the runner's `deploy` events for this stack's deploy key.
 */
export function historyRows(updates: UpdateSummary[], outputsByStart: Map<number, string>, deploys: DeployRecord[]): HistoryRow[] {
  return updates
    .filter((u) => u.kind === "update")
    .map((u) => {
      const start = new Date(u.startTime).getTime();
      const end = u.endTime ? new Date(u.endTime).getTime() : Date.now();
      const app = appOf(u);
      // Pulumi's times are whole seconds: the registration falls in [start, end + 1 s).
      const during = deploys.filter((d) => d.t >= start - 1000 && d.t < end + 1000).pop();
      const fromCheckpoint = u.result === "succeeded" ? outputsByStart.get(Math.round(start / 1000)) : undefined;
      const release = fromCheckpoint ?? (typeof app.release === "string" ? app.release : undefined) ?? during?.release ?? "";
      const who = during?.deployer ?? (typeof app.deployer === "string" ? app.deployer : "") ?? "";
      return {
        version: u.version,
        kind: u.kind,
        started: new Date(start),
        seconds: u.endTime ? Math.round((end - start) / 1000) : undefined,
        result: u.result,
        message: u.message ?? "",
        release,
        who: who || "-",
        rollback: typeof app.release === "string",
      };
    })
    .sort((a, b) => b.version - a.version || b.started.getTime() - a.started.getTime())
    // File backends number no update (version 0): number them oldest first, as the service does.
    .map((r, i, all) => (r.version ? r : { ...r, version: all.length - i }));
}

/** Distinct releases of successful updates, newest first (the first is the current one). */
export function successfulReleases(rows: HistoryRow[]): string[] {
  const out: string[] = [];
  for (const r of rows) if (r.result === "succeeded" && r.release && !out.includes(r.release)) out.push(r.release);
  return out;
}

/**
 * For a file:// backend: release ids from the checkpoints Pulumi keeps beside each history
 * entry (`.pulumi/history/<project>/<stack>/<stack>-<ns>.{history,checkpoint}.json`), keyed
 * by the update's start time in epoch seconds. Other backends: an empty map. `newest`: only the
 * last that many updates (each checkpoint is the whole state of its time).
 */
export function checkpointReleases(backendUrl: string | undefined, project: string, stack: string, newest?: number): Map<number, string> {
  const found = new Map<number, string>();
  if (!backendUrl?.startsWith("file://")) return found;
  let root = backendUrl.slice("file://".length).replace(/\?.*$/, "");
  if (root.startsWith("~")) root = path.join(process.env.HOME ?? "", root.slice(1));
  const dirs = [path.join(root, ".pulumi", "history", project, stack), path.join(root, ".pulumi", "history", stack)];
  const read = (file: string): unknown => {
    const buf = fs.readFileSync(file);
    return JSON.parse((file.endsWith(".gz") ? zlib.gunzipSync(buf) : buf).toString("utf8"));
  };
  for (const dir of dirs) {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue;
    }
    // Named <stack>-<unix nanoseconds>: newest first is the longest stamp, then the greatest.
    const stamp = (m: RegExpMatchArray) => m[1].replace(/^.*-/, "");
    const entries = names
      .map((name) => name.match(/^(.*)\.history\.json(\.gz)?$/))
      .filter((m): m is RegExpMatchArray => m !== null)
      .sort((a, b) => stamp(b).length - stamp(a).length || stamp(b).localeCompare(stamp(a)))
      .slice(0, newest);
    for (const m of entries) {
      try {
        const h = read(path.join(dir, m[0])) as { startTime?: number; kind?: string };
        const cp = read(path.join(dir, `${m[1]}.checkpoint.json${m[2] ?? ""}`)) as {
          checkpoint?: { latest?: { resources?: Array<{ type: string; outputs?: Record<string, unknown> }> } };
        };
        const stackResource = cp.checkpoint?.latest?.resources?.find((r) => r.type === "pulumi:pulumi:Stack");
        const id = stackResource?.outputs?.releaseId;
        if (typeof h.startTime === "number" && typeof id === "string") found.set(h.startTime, id);
      } catch {
        /* a history entry without a readable checkpoint: other sources name its release */
      }
    }
    if (found.size) break;
  }
  return found;
}

const pad = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s.padEnd(n));

function when(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function historyTable(rows: HistoryRow[]): string {
  const head = ["#", "when", "who", "result", "took", "release", "message"];
  const lines = rows.map((r) => [
    String(r.version),
    when(r.started),
    r.who,
    r.result,
    r.seconds === undefined ? "-" : `${r.seconds} s`,
    (r.release || "?") + (r.rollback ? " (rollback)" : ""),
    r.message.split("\n")[0],
  ]);
  const widths = head.map((h, i) => Math.min(i === 6 ? 60 : 40, Math.max(h.length, ...lines.map((l) => l[i].length))));
  return [head, ...lines].map((l) => l.map((c, i) => (i === l.length - 1 ? pad(c, widths[i]).trimEnd() : pad(c, widths[i]))).join("  ")).join("\n");
}

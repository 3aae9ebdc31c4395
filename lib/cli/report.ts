// `cutover report`: one self-contained HTML file (inline SVG and CSS, no script, nothing
// fetched) drawing the last deploy from the runner's event log: one row per host, bars for
// prepare, migrate, hidden (out of rotation before the switch), switch + smoke test and the
// way back into rotation; dashed lines where each batch starts; failures in red with their
// reason; the totals underneath. Built from events alone, so it is pure and testable.
import { DeployEvent, summarize } from "../runner/events";
import { EngineRecord } from "./update";

export interface ReportInput {
  project: string;
  stack: string;
  events: DeployEvent[];
  engine: EngineRecord[];
  /** Every host of the stack: hosts this deploy did not touch still get their (empty) row. */
  hosts?: string[];
}

export type SegmentKind = "prepare" | "migrate" | "hidden" | "switch" | "returning" | "restored" | "canary" | "canary-failed";

export interface Segment {
  kind: SegmentKind;
  from: number;
  to: number;
}

export interface HostRow {
  host: string;
  batch?: number;
  segments: Segment[];
  /** Seconds since the start (t0) at which the host failed, and why. */
  failed?: { at: number; why: string };
  unchangedAt?: number;
  outOfRotation?: number;
}

export interface Timeline {
  t0: number;
  end: number;
  release: string;
  deployer: string;
  rows: HostRow[];
  batches: Array<{ index: number; at: number }>;
  result: "succeeded" | "failed" | "unknown";
}

type PhaseEvent = Extract<DeployEvent, { kind: "phase" }>;

/** Bars per host from the phase events: each bar runs from a phase to the one ending it. */
export function timeline(input: ReportInput): Timeline {
  const start = input.events.find((e) => e.kind === "deploy");
  const phases = input.events.filter((e): e is PhaseEvent => e.kind === "phase");
  const t0 = start?.t ?? phases[0]?.t ?? 0;
  const end = Math.max(t0, ...input.events.map((e) => e.t), ...input.engine.filter((r) => r.type === "summary").map((r) => r.t));
  const rows = new Map<string, HostRow>();
  const open = new Map<string, Partial<Record<string, number>>>();
  const row = (e: PhaseEvent) => {
    let r = rows.get(e.host);
    if (!r) rows.set(e.host, (r = { host: e.host, segments: [] }));
    if (e.batch !== undefined) r.batch = e.batch;
    return r;
  };
  const close = (r: HostRow, kind: SegmentKind, startedAt: number | undefined, at: number) => {
    if (startedAt !== undefined) r.segments.push({ kind, from: startedAt - t0, to: at - t0 });
  };
  for (const e of phases) {
    const r = row(e);
    const o = open.get(e.host) ?? {};
    open.set(e.host, o);
    switch (e.phase) {
      case "prepare":
      case "migrate":
        o[e.phase] = e.t;
        break;
      case "prepared":
        close(r, "prepare", o.prepare, e.t);
        o.prepare = undefined;
        break;
      case "migrated":
        close(r, "migrate", o.migrate, e.t);
        o.migrate = undefined;
        break;
      case "hide":
        o.hide = e.t;
        break;
      case "switch":
        close(r, "hidden", o.hide, e.t);
        o.hide = undefined;
        o.switch = e.t;
        break;
      case "switched":
      case "restored":
        close(r, e.phase === "switched" ? "switch" : "restored", o.switch, e.t);
        o.switch = undefined;
        o.back = e.t;
        break;
      case "unhide":
        // Hidden but never switched (cancelled, or a hide that failed): still out of rotation.
        close(r, "hidden", o.hide, e.t);
        o.hide = undefined;
        o.back ??= e.t;
        break;
      case "in-rotation":
        close(r, "returning", o.back, e.t);
        o.back = undefined;
        break;
      case "canary-hold":
        o.canary = e.t;
        break;
      case "canary-passed":
      case "canary-failed":
        close(r, e.phase === "canary-passed" ? "canary" : "canary-failed", o.canary, e.t);
        o.canary = undefined;
        break;
      case "unchanged":
        r.unchangedAt = e.t - t0;
        break;
      case "failed":
        r.failed = { at: e.t - t0, why: e.detail ?? "" };
        break;
    }
  }
  // Whatever is still open ran until the end of the record (a step that never finished).
  for (const [host, o] of open) {
    const r = rows.get(host)!;
    close(r, "prepare", o.prepare, end);
    close(r, "migrate", o.migrate, end);
    close(r, "hidden", o.hide, end);
    close(r, "switch", o.switch, end);
  }
  for (const h of input.hosts ?? []) if (!rows.has(h)) rows.set(h, { host: h, segments: [] });
  const s = summarize(input.events);
  for (const r of rows.values()) r.outOfRotation = s.outOfRotationSeconds[r.host];
  const batchStart = new Map<number, number>();
  for (const e of phases) {
    if (e.batch === undefined || !["lock", "hide"].includes(e.phase)) continue;
    if (!batchStart.has(e.batch)) batchStart.set(e.batch, e.t - t0);
  }
  const engineFailed = input.engine.some((r) => r.type === "failed");
  const engineDone = input.engine.some((r) => r.type === "summary");
  const result = engineFailed || s.failedHosts.length ? "failed" : engineDone || phases.some((e) => e.phase === "in-rotation" || e.phase === "unchanged") ? "succeeded" : "unknown";
  const order = (r: HostRow) => r.batch ?? Number.MAX_SAFE_INTEGER;
  return {
    t0,
    end,
    release: start?.kind === "deploy" ? start.release : "",
    deployer: start?.kind === "deploy" ? start.deployer : "",
    rows: [...rows.values()].sort((a, b) => order(a) - order(b) || a.host.localeCompare(b.host, "en", { numeric: true })),
    batches: [...batchStart].map(([index, at]) => ({ index, at })).sort((a, b) => a.at - b.at),
    result,
  };
}

const COLORS: Record<SegmentKind, string> = {
  prepare: "#5b8def",
  migrate: "#9b6bd3",
  hidden: "#f0a830",
  switch: "#2fa36b",
  returning: "#93d5ad",
  restored: "#d64545",
  canary: "#4fb3bf",
  "canary-failed": "#a32d2d",
};

const LABELS: Record<SegmentKind, string> = {
  prepare: "prepare (upload, unpack, install)",
  migrate: "migrate",
  hidden: "hidden (out of rotation, draining)",
  switch: "switch + smoke test",
  returning: "back into rotation (health checks)",
  restored: "failed check, restored",
  canary: "canary hold, passed",
  "canary-failed": "canary hold, rolled back",
};

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function tickStep(totalSeconds: number): number {
  for (const s of [1, 2, 5, 10, 15, 30, 60, 120, 300, 600]) if (totalSeconds / s <= 12) return s;
  return 1200;
}

export function renderSvg(tl: Timeline): string {
  const labelW = 150;
  const rightW = 120;
  const plotW = 820;
  const rowH = 30;
  const top = 46;
  const width = labelW + plotW + rightW;
  const height = top + tl.rows.length * rowH + 30;
  const total = Math.max(1, tl.end - tl.t0);
  const x = (ms: number) => labelW + (Math.max(0, ms) / total) * plotW;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">`);
  parts.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  const step = tickStep(total / 1000);
  for (let s = 0; s * 1000 <= total; s += step) {
    const px = x(s * 1000).toFixed(1);
    parts.push(`<line x1="${px}" y1="${top - 6}" x2="${px}" y2="${height - 24}" stroke="#e4e4e4"/>`);
    parts.push(`<text x="${px}" y="${height - 8}" text-anchor="middle" fill="#666">${s} s</text>`);
  }
  tl.rows.forEach((r, i) => {
    const y = top + i * rowH;
    if (i % 2 === 0) parts.push(`<rect x="0" y="${y}" width="${width}" height="${rowH}" fill="#f7f7f9"/>`);
    const failed = r.failed !== undefined;
    parts.push(
      `<text x="8" y="${y + 19}" fill="${failed ? "#b42318" : "#222"}" font-weight="${failed ? "bold" : "normal"}">${esc(r.host)}</text>`,
      `<text x="${labelW - 8}" y="${y + 19}" text-anchor="end" fill="#888">${r.batch !== undefined ? `batch ${r.batch}` : ""}</text>`,
    );
    for (const seg of r.segments) {
      const x1 = x(seg.from);
      const w = Math.max(2, x(seg.to) - x1);
      const h = seg.kind === "prepare" || seg.kind === "migrate" ? 10 : 16;
      const y1 = y + (rowH - h) / 2;
      parts.push(
        `<rect class="seg ${seg.kind}" x="${x1.toFixed(1)}" y="${y1}" width="${w.toFixed(1)}" height="${h}" rx="2" fill="${COLORS[seg.kind]}"><title>${esc(`${r.host}: ${LABELS[seg.kind]} ${secs(seg.from)} → ${secs(seg.to)} (${secs(seg.to - seg.from)})`)}</title></rect>`,
      );
    }
    if (r.unchangedAt !== undefined) {
      const px = x(r.unchangedAt);
      parts.push(`<circle cx="${px.toFixed(1)}" cy="${y + rowH / 2}" r="4" fill="#999"><title>${esc(`${r.host} was already on the release`)}</title></circle>`);
    }
    if (r.failed) {
      const px = x(r.failed.at);
      const c = y + rowH / 2;
      parts.push(
        `<g class="failure" stroke="#b42318" stroke-width="3"><line x1="${px - 6}" y1="${c - 6}" x2="${px + 6}" y2="${c + 6}"/><line x1="${px - 6}" y1="${c + 6}" x2="${px + 6}" y2="${c - 6}"/><title>${esc(`${r.host} failed: ${r.failed.why}`)}</title></g>`,
      );
    }
    const right = failed ? "FAILED" : r.outOfRotation !== undefined ? `${r.outOfRotation.toFixed(1)} s out` : r.unchangedAt !== undefined ? "unchanged" : r.segments.length ? "" : "not touched";
    parts.push(`<text x="${labelW + plotW + 10}" y="${y + 19}" fill="${failed ? "#b42318" : "#444"}">${right}</text>`);
  });
  for (const b of tl.batches) {
    const px = x(b.at).toFixed(1);
    parts.push(`<line class="batch" x1="${px}" y1="${top - 14}" x2="${px}" y2="${top + tl.rows.length * rowH}" stroke="#333" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${Number(px) + 3}" y="${top - 18}" fill="#333" font-size="11">batch ${b.index}</text>`);
  }
  parts.push("</svg>");
  return parts.join("\n");
}

export function renderReport(input: ReportInput, generated = new Date()): string {
  const tl = timeline(input);
  const s = summarize(input.events);
  const wall = (tl.end - tl.t0) / 1000;
  const summary = input.engine.filter((r) => r.type === "summary").pop();
  const failures = tl.rows.filter((r) => r.failed);
  const outs = Object.values(s.outOfRotationSeconds);
  const totals: Array<[string, string]> = [
    ["result", tl.result],
    ["release", tl.release || "?"],
    ["deployer", tl.deployer || "?"],
    ["started", new Date(tl.t0).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC")],
    ["deploy wall time", `${wall.toFixed(1)} s`],
    ["hosts", `${tl.rows.length} (${tl.rows.filter((r) => r.segments.some((g) => g.kind === "switch")).length} switched, ${tl.rows.filter((r) => r.unchangedAt !== undefined).length} unchanged, ${failures.length} failed)`],
    ["batches", String(tl.batches.length)],
    ["out of rotation per host", outs.length ? `${Math.min(...outs).toFixed(1)}–${Math.max(...outs).toFixed(1)} s (total ${outs.reduce((a, b) => a + b, 0).toFixed(1)} s)` : "-"],
    ["first host hidden after", s.secondsBeforeFirstHide !== undefined ? `${s.secondsBeforeFirstHide.toFixed(1)} s` : "-"],
    ["SSH handshakes / remote commands", `${s.sshHandshakes} / ${s.remoteCommands}`],
    ...(s.uploads ? [["uploads", `${s.uploads} (${(s.uploadedBytes / 1024).toFixed(0)} KiB)`] as [string, string]] : []),
  ];
  if (summary?.resourceChanges) {
    totals.push(["Pulumi update", `${summary.durationSeconds ?? "?"} s; resources ${Object.entries(summary.resourceChanges).map(([k, v]) => `${v} ${k}`).join(", ")}`]);
  }
  const legend = (Object.keys(COLORS) as SegmentKind[])
    .map((k) => `<span class="key"><i style="background:${COLORS[k]}"></i>${esc(LABELS[k])}</span>`)
    .join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>${esc(`Cutover deploy ${tl.release} — ${input.project}/${input.stack}`)}</title>
<style>
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px; }
.sub { color: #666; margin-bottom: 14px; }
.result-succeeded { color: #1a7f46; } .result-failed { color: #b42318; } .result-unknown { color: #666; }
.legend { margin: 8px 0 12px; font-size: 12px; }
.key { margin-right: 16px; white-space: nowrap; } .key i { display: inline-block; width: 12px; height: 12px; margin-right: 5px; vertical-align: -2px; border-radius: 2px; }
table { border-collapse: collapse; font-size: 13px; margin-top: 14px; }
td, th { padding: 3px 14px 3px 0; text-align: left; vertical-align: top; }
th { color: #666; font-weight: normal; }
.fail { color: #b42318; }
</style></head>
<body>
<h1>${esc(`${input.project}/${input.stack}`)}: release ${esc(tl.release || "?")} <span class="result-${tl.result}">${tl.result}</span></h1>
<div class="sub">${tl.rows.length} hosts, ${tl.batches.length} batch(es), ${wall.toFixed(1)} s — by ${esc(tl.deployer || "?")}; report generated ${esc(generated.toISOString())} by <code>cutover report</code></div>
<div class="legend">${legend}<span class="key"><b class="fail">✕</b> failure</span><span class="key">┆ batch start</span></div>
${renderSvg(tl)}
<table>${totals.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join("")}</table>
${failures.length ? `<table>${failures.map((r) => `<tr><th class="fail">${esc(r.host)} failed at ${r.failed!.at / 1000} s</th><td>${esc(r.failed!.why)}</td></tr>`).join("")}</table>` : ""}
</body></html>
`;
}

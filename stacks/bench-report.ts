// Turns benchmark runs into the README's table (between <!-- bench:start --> and
// <!-- bench:end -->) and bench/results/deploy-time.svg (median deploy time vs hosts, the
// spread as whiskers). `node dist/stacks/bench-report.js` regenerates both from latest.json.
import * as fs from "node:fs";
import * as path from "node:path";
import { projectDir } from "./project-dir";

export interface BenchRun {
  tool: string;
  /** How hosts changed release: restarted out of rotation, or started beside the old release. */
  strategy?: "cycle" | "overlap";
  /** Seconds in which fewer servers served than there are hosts (HAProxy sampled every 100 ms). */
  secondsBelowCapacity?: number;
  kind: "deploy" | "rollback" | "noop-up" | "preview";
  hosts: number;
  batch: string;
  deployWallSeconds: number;
  secondsBeforeFirstHide?: number;
  outOfRotationSeconds?: Record<string, number>;
  requests?: number;
  failed?: number;
  remoteCommands?: number;
  sshHandshakes?: number;
  uploads?: number;
  /** The agent's peak resident memory (MB) as of the deploy's last step. */
  agentRssMB?: number;
  releaseId?: string;
  error?: string;
  loadAverage?: string;
  /** The load when not the default (wrk 2 threads × 16 connections, unpaced). */
  load?: string;
  date: string;
}

const median = (xs: number[]) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "–");
const spread = (xs: number[]) => (xs.length > 1 ? `${f1(Math.min(...xs))}–${f1(Math.max(...xs))}` : f1(xs[0] ?? NaN));

interface Group {
  tool: string;
  strategy?: string;
  load?: string;
  kind: string;
  hosts: number;
  batch: string;
  runs: BenchRun[];
}

function groups(runs: BenchRun[]): Group[] {
  const by = new Map<string, Group>();
  for (const r of runs) {
    const k = `${r.tool}|${r.strategy ?? ""}|${r.load ?? ""}|${r.kind}|${r.hosts}|${r.batch}`;
    if (!by.has(k)) by.set(k, { tool: r.tool, strategy: r.strategy, load: r.load, kind: r.kind, hosts: r.hosts, batch: r.batch, runs: [] });
    by.get(k)!.runs.push(r);
  }
  // By fleet size (runs of several bench calls are merged), in the order measured within one.
  return [...by.values()].sort((a, b) => a.hosts - b.hosts);
}

export function table(runs: BenchRun[]): string {
  const rows = groups(runs).map((g) => {
    const wall = g.runs.map((r) => r.deployWallSeconds);
    const out = g.runs.flatMap((r) => Object.values(r.outOfRotationSeconds ?? {}));
    const first = g.runs.map((r) => r.secondsBeforeFirstHide).filter((x): x is number => x !== undefined);
    const n = (pick: (r: BenchRun) => number | undefined) => {
      const xs = g.runs.map(pick).filter((x): x is number => x !== undefined);
      return xs.length ? String(median(xs)) : "–";
    };
    const failed = g.runs.map((r) => r.failed).filter((x): x is number => x !== undefined);
    const requests = g.runs.map((r) => r.requests ?? 0).reduce((a, b) => a + b, 0);
    return (
      `| ${g.tool}${g.load ? ` (${g.load})` : ""} | ${g.strategy ?? "–"} | ${g.kind} | ${g.hosts} | ${g.batch} | ${g.runs.length} | ${f1(median(wall))} (${spread(wall)}) | ` +
      `${first.length ? f1(median(first)) : "–"} | ${out.length ? `${f1(median(out))} (${spread(out)})` : "–"} | ` +
      `${n((r) => r.secondsBelowCapacity)} | ${requests || "–"} | ${failed.length ? failed.reduce((a, b) => a + b, 0) : "–"} | ${n((r) => r.remoteCommands)} | ${n((r) => r.sshHandshakes)} | ${n((r) => r.agentRssMB)} | ` +
      `${[...new Set(g.runs.map((r) => r.loadAverage))].join(", ")} |`
    );
  });
  return [
    "| tool | strategy | kind | hosts | batch | runs | wall s, median (spread) | s before first hide | out of rotation s per host, median (spread) | s below capacity | requests | failed | remote commands | SSH handshakes | agent RSS MB | load avg |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ...rows,
  ].join("\n");
}

export function svg(runs: BenchRun[]): string {
  const series = ["1", "25%", "overlap 25%"].map((batch) => ({
    batch,
    points: groups(runs)
      .filter((g) => g.tool === "cutover" && g.load === undefined && g.kind === "deploy" && (g.strategy === "overlap" ? `overlap ${g.batch}` : g.batch) === batch)
      .map((g) => ({ hosts: g.hosts, wall: g.runs.map((r) => r.deployWallSeconds) }))
      .sort((a, b) => a.hosts - b.hosts),
  }));
  const all = series.flatMap((s) => s.points.flatMap((p) => p.wall));
  const maxY = Math.max(10, ...all) * 1.1;
  const hostsAxis = [...new Set(series.flatMap((s) => s.points.map((p) => p.hosts)))].sort((a, b) => a - b);
  const maxX = Math.max(2, ...hostsAxis);
  const W = 640, H = 360, L = 60, B = 300, R = 600, T = 30;
  const x = (h: number) => L + ((R - L) * h) / maxX;
  const y = (s: number) => B - ((B - T) * s) / maxY;
  const colors: Record<string, string> = { "1": "#1f77b4", "25%": "#d62728", "overlap 25%": "#2ca02c" };
  const lines = series.map((s) => {
    const path = s.points.map((p, i) => `${i ? "L" : "M"}${x(p.hosts).toFixed(1)},${y(median(p.wall)).toFixed(1)}`).join(" ");
    const whiskers = s.points
      .map((p) => `<line x1="${x(p.hosts)}" x2="${x(p.hosts)}" y1="${y(Math.min(...p.wall))}" y2="${y(Math.max(...p.wall))}" stroke="${colors[s.batch]}"/>` +
        `<circle cx="${x(p.hosts)}" cy="${y(median(p.wall))}" r="3" fill="${colors[s.batch]}"/>`)
      .join("");
    return `<path d="${path}" fill="none" stroke="${colors[s.batch]}" stroke-width="2"/>${whiskers}`;
  });
  const ticksY = Array.from({ length: 6 }, (_, i) => (maxY * i) / 5);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">Cutover deploy wall time vs hosts (median, whiskers = spread)</text>`,
    `<line x1="${L}" y1="${B}" x2="${R}" y2="${B}" stroke="black"/><line x1="${L}" y1="${B}" x2="${L}" y2="${T}" stroke="black"/>`,
    ...hostsAxis.map((h) => `<text x="${x(h)}" y="${B + 16}" text-anchor="middle">${h}</text>`),
    ...ticksY.map((s) => `<text x="${L - 6}" y="${y(s) + 4}" text-anchor="end">${s.toFixed(0)}</text><line x1="${L}" x2="${R}" y1="${y(s)}" y2="${y(s)}" stroke="#eee"/>`),
    `<text x="${(L + R) / 2}" y="${B + 34}" text-anchor="middle">hosts</text>`,
    `<text x="16" y="${(T + B) / 2}" transform="rotate(-90 16 ${(T + B) / 2})" text-anchor="middle">seconds</text>`,
    ...lines,
    ...Object.entries(colors).map(([b, c], i) => `<rect x="${L + 10}" y="${T + 6 + i * 18}" width="12" height="12" fill="${c}"/><text x="${L + 28}" y="${T + 16 + i * 18}">${b.startsWith("overlap") ? b : `batch ${b}`}</text>`),
    "</svg>",
    "",
  ].join("\n");
}

export function writeReport(runs: BenchRun[]): void {
  fs.writeFileSync(path.join(projectDir, "bench", "results", "deploy-time.svg"), svg(runs));
  const readme = path.join(projectDir, "README.md");
  const text = fs.readFileSync(readme, "utf8");
  const start = "<!-- bench:start -->";
  const end = "<!-- bench:end -->";
  if (!text.includes(start) || !text.includes(end)) throw new Error(`README.md lacks the ${start} … ${end} markers`);
  fs.writeFileSync(readme, text.slice(0, text.indexOf(start) + start.length) + "\n" + table(runs) + "\n" + text.slice(text.indexOf(end)));
}

if (require.main === module) {
  writeReport(JSON.parse(fs.readFileSync(path.join(projectDir, "bench", "results", "latest.json"), "utf8")) as BenchRun[]);
}

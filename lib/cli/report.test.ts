import { describe, expect, it } from "vitest";
import { DeployEvent } from "../runner/events";
import { renderReport, timeline } from "./report";

const T = 1_000_000;
const at = (s: number) => T + s * 1000;
const phase = (s: number, host: string, batch: number, p: string, detail?: string): DeployEvent =>
  ({ kind: "phase", t: at(s), host, batch, phase: p, detail }) as DeployEvent;

// Two batches of two hosts; web3 fails its smoke test and is restored.
const events: DeployEvent[] = [
  { kind: "deploy", t: T, key: "p/s/app", release: "2-0123456789ab", hosts: 4, deployer: "alice" },
  ...["web1", "web2", "web3", "web4"].flatMap((h, i) => [phase(0.5, h, i < 2 ? 1 : 2, "prepare"), phase(2, h, i < 2 ? 1 : 2, "prepared")]),
  phase(2.1, "web1", 1, "migrate"),
  phase(3, "web1", 1, "migrated"),
  ...["web1", "web2"].flatMap((h) => [
    phase(3.1, h, 1, "lock"),
    phase(3.2, h, 1, "hide"),
    phase(3.5, h, 1, "hidden"),
    phase(3.5, h, 1, "switch"),
    phase(5, h, 1, "switched"),
    phase(5, h, 1, "unhide"),
    phase(5.4, h, 1, "in-rotation"),
  ]),
  phase(6, "web3", 2, "lock"),
  phase(6, "web3", 2, "hide"),
  phase(6.2, "web3", 2, "hidden"),
  phase(6.2, "web3", 2, "switch"),
  phase(9, "web3", 2, "restored", "smoke test: HTTP 500"),
  phase(9, "web3", 2, "unhide"),
  phase(9.5, "web3", 2, "in-rotation"),
  phase(9.5, "web3", 2, "failed", "smoke test: HTTP 500 <from web3>"),
  { kind: "ssh-handshake", t: at(0.4), endpoint: "web1" },
];

describe("the deploy timeline report", () => {
  it("has one row per host, in batch order, with its phases as bars", () => {
    const tl = timeline({ project: "p", stack: "s", events, engine: [] });
    expect(tl.rows.map((r) => [r.host, r.batch])).toEqual([["web1", 1], ["web2", 1], ["web3", 2], ["web4", 2]]);
    const web1 = tl.rows[0].segments.map((s) => [s.kind, s.from, s.to]);
    expect(web1).toEqual([
      ["prepare", 500, 2000],
      ["migrate", 2100, 3000],
      ["hidden", 3200, 3500],
      ["switch", 3500, 5000],
      ["returning", 5000, 5400],
    ]);
    expect(tl.rows[2].segments.map((s) => s.kind)).toEqual(["prepare", "hidden", "restored", "returning"]);
    expect(tl.rows[2].failed).toEqual({ at: 9500, why: "smoke test: HTTP 500 <from web3>" });
    expect(tl.rows[3].segments.map((s) => s.kind)).toEqual(["prepare"]);
    expect(tl.batches).toEqual([{ index: 1, at: 3100 }, { index: 2, at: 6000 }]);
    expect(tl.result).toBe("failed");
    // A host the deploy never touched (already done by an earlier attempt) keeps its row.
    const withIdle = timeline({ project: "p", stack: "s", events, engine: [], hosts: ["web1", "web2", "web3", "web4", "web5"] });
    expect(withIdle.rows.map((r) => r.host)).toEqual(["web1", "web2", "web3", "web4", "web5"]);
    expect(withIdle.rows[4].segments).toEqual([]);
  });

  it("renders self-contained HTML: the SVG rows, batch lines, the failure marked, the totals", () => {
    const html = renderReport({ project: "p", stack: "s", events, engine: [] }, new Date(0));
    expect(html).not.toMatch(/<script|<link|src=|@import|url\(/);
    expect(html.match(/<rect class="seg /g)).toHaveLength(4 + 1 + 3 * 2 + 3);
    expect(html.match(/class="batch"/g)).toHaveLength(2);
    expect(html.match(/class="failure"/g)).toHaveLength(1);
    expect(html).toContain("smoke test: HTTP 500 &lt;from web3&gt;");
    expect(html).not.toContain("<from web3>");
    expect(html).toContain("<th>out of rotation per host</th><td>2.2–3.5 s (total 7.9 s)</td>");
    expect(html).toContain("<th>deploy wall time</th><td>9.5 s</td>");
    expect(html).toMatch(/release 2-0123456789ab <span class="result-failed">failed<\/span>/);
  });
});

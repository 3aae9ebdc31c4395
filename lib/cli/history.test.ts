import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { UpdateSummary } from "@pulumi/pulumi/automation";
import { checkpointReleases, historyRows, historyTable, successfulReleases } from "./history";

const update = (start: number, result: string, app: Record<string, unknown>, message = ""): UpdateSummary =>
  ({
    kind: "update",
    version: 0,
    startTime: new Date(start * 1000),
    endTime: new Date((start + 20) * 1000),
    message,
    environment: {},
    config: { "cutover:app": { value: JSON.stringify(app), secret: false } },
    result,
  }) as unknown as UpdateSummary;

describe("the stack's history with release ids", () => {
  // Newest first, as `pulumi stack history` gives them.
  const updates = [
    update(1500, "succeeded", { version: "2", release: "1-aaaaaaaaaaaa" }, "rollback to 1-aaaaaaaaaaaa"),
    update(1400, "failed", { version: "3" }),
    update(1300, "succeeded", { version: "2" }),
    update(1200, "succeeded", { version: "1", deployer: "alice" }, "first"),
  ];
  const checkpoints = new Map([
    [1200, "1-aaaaaaaaaaaa"],
    [1300, "2-bbbbbbbbbbbb"],
    [1400, "2-bbbbbbbbbbbb"], // a failed update's checkpoint still holds the old outputs
  ]);
  // The runner registered release 3 five seconds into the failed update.
  const registered = { kind: "deploy" as const, t: 1_405_000, key: "p/s/app", release: "3-cccccccccccc", hosts: 4, deployer: "bob" };

  it("takes the release from the checkpoint, the rollback target, or the runner's registration", () => {
    const rows = historyRows(updates, checkpoints, [registered]);
    expect(rows.map((r) => [r.version, r.result, r.release, r.rollback])).toEqual([
      [4, "succeeded", "1-aaaaaaaaaaaa", true],
      [3, "failed", "3-cccccccccccc", false],
      [2, "succeeded", "2-bbbbbbbbbbbb", false],
      [1, "succeeded", "1-aaaaaaaaaaaa", false],
    ]);
    expect(rows[1].who).toBe("bob");
    expect(rows[3].who).toBe("alice");
    expect(rows[0].seconds).toBe(20);
  });

  it("lists distinct successful releases newest first: the current one, then what rollback goes to", () => {
    const rows = historyRows(updates, checkpoints, []);
    expect(successfulReleases(rows)).toEqual(["1-aaaaaaaaaaaa", "2-bbbbbbbbbbbb"]);
  });

  it("prints one line per update with its release", () => {
    const table = historyTable(historyRows(updates, checkpoints, []));
    expect(table.split("\n")).toHaveLength(5);
    expect(table).toMatch(/^#\s+when\s+who\s+result\s+took\s+release\s+message$/m);
    expect(table).toMatch(/1-aaaaaaaaaaaa \(rollback\)\s+rollback to 1-aaaaaaaaaaaa/);
  });

  it("reads the stack output releaseId from a file backend's per-update checkpoints", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-cli-history-"));
    const dir = path.join(root, ".pulumi", "history", "proj", "st");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "st-1.history.json"), JSON.stringify({ kind: "update", startTime: 1300 }));
    fs.writeFileSync(
      path.join(dir, "st-1.checkpoint.json"),
      JSON.stringify({ checkpoint: { latest: { resources: [{ type: "pulumi:pulumi:Stack", outputs: { releaseId: "2-bbbbbbbbbbbb" } }] } } }),
    );
    fs.writeFileSync(path.join(dir, "st-2.history.json"), JSON.stringify({ kind: "update", startTime: 1400 })); // no checkpoint
    try {
      expect([...checkpointReleases(`file://${root}`, "proj", "st")]).toEqual([[1300, "2-bbbbbbbbbbbb"]]);
      expect(checkpointReleases("https://api.example.invalid", "proj", "st").size).toBe(0);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("reads only the newest updates' checkpoints when asked for a page, newest by the time in the file name", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-cli-history-"));
    const dir = path.join(root, ".pulumi", "history", "proj", "st");
    fs.mkdirSync(dir, { recursive: true });
    // Written at 9 s, 10 s and 11 s (nanoseconds): one digit more is later, not earlier.
    for (const [ns, start, id] of [["9000000000", 900, "1-aaaaaaaaaaaa"], ["10000000000", 1000, "2-bbbbbbbbbbbb"], ["11000000000", 1100, "3-cccccccccccc"]] as const) {
      fs.writeFileSync(path.join(dir, `st-${ns}.history.json`), JSON.stringify({ kind: "update", startTime: start }));
      fs.writeFileSync(path.join(dir, `st-${ns}.checkpoint.json`), JSON.stringify({ checkpoint: { latest: { resources: [{ type: "pulumi:pulumi:Stack", outputs: { releaseId: id } }] } } }));
    }
    try {
      expect([...checkpointReleases(`file://${root}`, "proj", "st", 2)]).toEqual([
        [1100, "3-cccccccccccc"],
        [1000, "2-bbbbbbbbbbbb"],
      ]);
      expect(checkpointReleases(`file://${root}`, "proj", "st").size).toBe(3);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

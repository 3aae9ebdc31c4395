import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describePending, fileBackendRoot, lockVerdict, stackLocks } from "./unlock";

describe("cutover unlock's checks", () => {
  it("finds a file backend's stack lock files with their holder", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-cli-unlock-"));
    const dir = path.join(root, ".pulumi", "locks", "organization", "proj", "st");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "a.json"), JSON.stringify({ pid: 4242, username: "root", hostname: "vm", timestamp: "2026-11-23T10:00:00Z" }));
    try {
      expect(fileBackendRoot(`file://${root}`)).toBe(root);
      expect(fileBackendRoot("https://api.example.invalid")).toBeUndefined();
      expect(stackLocks(root, "proj", "st")).toEqual([{ file: path.join(dir, "a.json"), pid: 4242, username: "root", hostname: "vm", timestamp: "2026-11-23T10:00:00Z" }]);
      expect(stackLocks(root, "proj", "other")).toEqual([]);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("refuses while the lock's pulumi process lives, and cannot vouch for another machine's", () => {
    const lock = { file: "f", pid: 4242, username: "root", hostname: "vm", timestamp: "t" };
    expect(lockVerdict(lock, "vm", () => true)).toMatchObject({ running: true, certain: true });
    expect(lockVerdict(lock, "vm", () => false)).toEqual({ running: false });
    expect(lockVerdict(lock, "laptop", () => false)).toMatchObject({ running: true, certain: false });
  });

  it("describes a pending operation by resource name and type", () => {
    expect(describePending({ type: "updating", resource: { urn: "urn:pulumi:st::proj::a$command:local:Command::app-web2-cycle", type: "command:local:Command" } })).toBe(
      "updating app-web2-cycle (command:local:Command)",
    );
  });
});

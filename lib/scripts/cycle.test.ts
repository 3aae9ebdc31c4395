// A host's switch run for real under bash with stand-in activate/smoke scripts: it always
// ends with a verdict, and fails for real only when the host could not be made healthy.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { cycleHost, parseVerdict, skippedStep } from "./cycle";

const run = (text: string) => spawnSync("bash", ["-c", text], { encoding: "utf8" });

describe("cycleHost", () => {
  it("reports ok when activation and smoke test pass", () => {
    const r = run(cycleHost({ host: "web1", activate: "echo activated", smokeOrRestore: "exit 0" }));
    expect(r.status).toBe(0);
    expect(parseVerdict(r.stdout)).toEqual({ state: "ok" });
  });

  it("reports a failed smoke test with its message, and exits 0 so the host can be unhidden", () => {
    const smoke = "echo 'cutover[web1] smoke test: GET http://x/healthz did not return release r1; last response: HTTP 500' >&2; exit 1";
    const r = run(cycleHost({ host: "web1", activate: "true", smokeOrRestore: smoke }));
    expect(r.status).toBe(0);
    expect(parseVerdict(r.stdout)).toEqual({
      state: "failed",
      reason: "smoke test: cutover[web1] smoke test: GET http://x/healthz did not return release r1; last response: HTTP 500",
    });
  });

  it("reports a failed activation", () => {
    const r = run(cycleHost({ host: "web1", activate: "echo 'restart failed' >&2; exit 1" }));
    expect(parseVerdict(r.stdout)).toEqual({ state: "failed", reason: "activate: restart failed" });
  });

  it("fails for real when the restore after a failed smoke test failed too", () => {
    const smoke = "echo 'cutover[web1] smoke test: failed, and restoring the previous release failed too; the host stays out of rotation' >&2; exit 1";
    const r = run(cycleHost({ host: "web1", activate: "true", smokeOrRestore: smoke }));
    expect(r.status).toBe(1);
  });

  it("a skipped step says so", () => {
    expect(parseVerdict(run(skippedStep("web3: skipped")).stdout)).toEqual({ state: "skipped" });
    expect(parseVerdict("no verdict here")).toEqual({ state: "failed", reason: "the switch reported no verdict" });
  });
});

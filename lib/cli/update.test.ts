import { describe, expect, it } from "vitest";
import { DeployEvent } from "../runner/events";
import { EngineRecord, engineRecord, explainFailure, nextSteps } from "./update";

const cycleUrn = "urn:pulumi:st::proj::cutover:deploy:Deployment$cutover:deploy:Rollout$cutover:deploy:HostCycle$command:local:Command::app-web1-cycle";

describe("explaining a failed update", () => {
  it("names the host and step of a failed deploy step, with the runner's message", () => {
    const records: EngineRecord[] = [
      { t: 1, type: "diagnostic", urn: cycleUrn, severity: "error", message: "app-web1-cycle: update command failed with exit code 1\nstdout:\ncutover-state switch 1-aaaaaaaaaaaa\nstderr:\ncutover: web1 (batch 1) did not switch to 2-bbbbbbbbbbbb: smoke test: HTTP 500. Fix the cause and run `pulumi up` again: it retries from web1." },
      { t: 2, type: "failed", urn: cycleUrn, op: "update" },
      { t: 3, type: "diagnostic", severity: "error", message: "update failed" },
    ];
    const f = explainFailure(records, [], "code: 255\n stderr: ...");
    expect(f).toMatchObject({ kind: "step", host: "web1", step: "cycle" });
    expect(f.reason).toMatch(/^cutover: web1 \(batch 1\) did not switch to 2-bbbbbbbbbbbb: smoke test: HTTP 500/);
    expect(nextSteps(f, "--stack st").join("\n")).toContain("`cutover deploy --stack st` again");
    const batched = cycleUrn.replace("::app-web1-cycle", "::app-batch2-web4-cycle");
    expect(explainFailure([{ t: 1, type: "failed", urn: batched }], [], "")).toMatchObject({ host: "web4", step: "cycle" });
  });

  it("names the migration host from the runner's events", () => {
    const urn = "urn:pulumi:st::proj::cutover:deploy:Deployment$command:local:Command::app-migrate";
    const events: DeployEvent[] = [{ kind: "phase", t: 1, host: "web1", phase: "migrate" }];
    const f = explainFailure([{ t: 1, type: "failed", urn }, { t: 1, type: "diagnostic", urn, severity: "error", message: "cutover: web1: migration failed: exit 3" }], events, "");
    expect(f).toMatchObject({ kind: "step", host: "web1", step: "migrate", reason: "cutover: web1: migration failed: exit 3" });
  });

  it("tells a held stack lock apart and points at cutover unlock", () => {
    const text = "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.\n  file:///s/.pulumi/locks/x.json: created by root@vm (pid 4242) at 2026-11-23T10:00:00Z";
    const f = explainFailure([], [], text);
    expect(f).toEqual({ kind: "stack-lock", reason: "the stack is locked by another update (root@vm, pid 4242)" });
    expect(nextSteps(f, "--stack st")[0]).toMatch(/`cutover unlock --stack st`/);
  });

  it("keeps no inputs, outputs or ordinary output of engine events", () => {
    const pre = { sequence: 1, timestamp: 1, resourcePreEvent: { metadata: { op: "update", urn: cycleUrn, type: "command:local:Command", new: { inputs: { create: "x" } } } } };
    expect(engineRecord(pre as never, 5)).toEqual({ t: 5, type: "pre", urn: cycleUrn, op: "update" });
    expect(engineRecord({ sequence: 2, timestamp: 1, diagnosticEvent: { message: "hello", color: "", severity: "info" } } as never)).toBeUndefined();
  });
});

// The engine itself, for real: the project's pulumi CLI, the Node.js language host and the
// command provider take a tiny program through preview → up → update → destroy on a
// temporary file:// backend. No mocks: if any of the three binaries is missing or
// mismatched, this fails.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as path from "node:path";
import { LocalWorkspace, Stack, EngineEvent } from "@pulumi/pulumi/automation";
import { repoRoot, requireEngine, tempProject, TempProject } from "./support/engine";

describe("the Pulumi engine built for this project", () => {
  let project: TempProject;
  let stack: Stack;

  beforeAll(async () => {
    requireEngine();
    project = tempProject(path.join(repoRoot, "test", "fixtures", "hello"));
    stack = await LocalWorkspace.createStack(
      { stackName: "e2e", workDir: project.dir },
      { envVars: project.envVars },
    );
    await stack.setConfig("name", { value: "world" });
  });

  afterAll(async () => {
    await stack?.workspace.removeStack("e2e", { force: true }).catch(() => undefined);
    project?.cleanup();
  });

  it("previews the creation of the command without running it", async () => {
    const events: EngineEvent[] = [];
    const preview = await stack.preview({ onEvent: (e) => events.push(e) });
    const planned = events
      .map((e) => e.resourcePreEvent?.metadata)
      .filter((m) => m !== undefined)
      .map((m) => `${m!.op} ${m!.type}`);
    expect(planned).toContain("create command:local:Command");
    expect(preview.changeSummary.create).toBe(2); // the stack and the command
  }, 180_000);

  it("brings the stack up and returns the command's stdout", async () => {
    const up = await stack.up();
    expect(up.summary.result).toBe("succeeded");
    expect(up.outputs.stdout?.value).toBe("hello world");
  }, 180_000);

  it("updates the command when its input changes", async () => {
    await stack.setConfig("name", { value: "cutover" });
    const up = await stack.up();
    expect(up.summary.resourceChanges?.update).toBe(1);
    expect(up.outputs.stdout?.value).toBe("hello cutover");
  }, 180_000);

  it("reports nothing to do when nothing changed", async () => {
    const up = await stack.up();
    expect(up.summary.resourceChanges).toEqual({ same: 2 });
  }, 180_000);

  it("destroys every resource", async () => {
    const destroyed = await stack.destroy();
    expect(destroyed.summary.resourceChanges?.delete).toBe(2);
    const state = await stack.exportStack();
    expect(state.deployment.resources ?? []).toHaveLength(0);
  }, 180_000);
});

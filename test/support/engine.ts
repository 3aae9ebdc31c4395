// Shared set-up for tests that drive the real Pulumi engine through the Automation API.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { runProcess } from "../../lib/engine/command-provider/run";

export const repoRoot = path.resolve(__dirname, "..", "..");

/** Fails early, with the fix, when the suite was started without the project's engine. */
export function requireEngine(): string {
  try {
    return execFileSync("pulumi", ["version"], { encoding: "utf8" }).trim();
  } catch {
    throw new Error("no `pulumi` on PATH: run the tests with `npm test` (it puts the engine first on PATH)");
  }
}

export interface TempProject {
  dir: string;
  backendUrl: string;
  envVars: Record<string, string>;
  cleanup(): void;
}

/**
 * Copies a fixture program into a fresh temp dir with its own file:// backend, so a test
 * never touches the repo's stacks or the user's state. node_modules is linked, not copied.
 */
export function tempProject(fixture: string): TempProject {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `cutover-${path.basename(fixture)}-`));
  const dir = path.join(root, "program");
  fs.cpSync(fixture, dir, { recursive: true });
  fs.symlinkSync(path.join(repoRoot, "node_modules"), path.join(dir, "node_modules"), "dir");
  const state = path.join(root, "state");
  fs.mkdirSync(state);
  const backendUrl = `file://${state}`;
  return {
    dir,
    backendUrl,
    envVars: {
      PULUMI_BACKEND_URL: backendUrl,
      PULUMI_CONFIG_PASSPHRASE: "cutover-test",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      PULUMI_SKIP_UPDATE_CHECK: "true",
    },
    cleanup: () => fs.rmSync(root, { recursive: true, force: true }),
  };
}

/**
 * A temp Pulumi project that runs the repo's compiled stack program (dist/stacks/index.js)
 * with the given stack config, on its own file:// backend. `npm test` builds dist first.
 */
export function tempStackProject(stackName: string, config: Record<string, unknown>): TempProject {
  const project = tempProject(path.join(repoRoot, "test", "fixtures", "stack"));
  const program = path.join(repoRoot, "dist", "stacks", "index.js");
  if (!fs.existsSync(program)) throw new Error(`${program} is missing: run \`npm run build\` (npm test does)`);
  fs.writeFileSync(path.join(project.dir, "index.js"), `module.exports = require(${JSON.stringify(program)});\n`);
  // JSON is YAML: structured config values stay structured.
  fs.writeFileSync(path.join(project.dir, `Pulumi.${stackName}.yaml`), JSON.stringify({ config }, null, 2));
  return project;
}

export interface StackUnderTest {
  stack: Stack;
  /** The temp project (its dir and the env a `pulumi` CLI run there needs). */
  project: TempProject;
  /**
   * `pulumi up --yes --skip-preview` by the CLI, as a user runs it: no `stack output` and
   * `stack history` runs afterwards as the Automation API's `stack.up()` makes (~2 s each up).
   */
  cliUp(): Promise<{ ok: boolean; output: string }>;
  /** Destroys whatever the tests left, removes the stack and its temp files; never throws. */
  teardown(): Promise<void>;
}

/** A stack of the repo's program on its own temp project and backend (see tempStackProject). */
export async function stackUnderTest(stackName: string, config: Record<string, unknown>): Promise<StackUnderTest> {
  const project = tempStackProject(stackName, config);
  const stack = await LocalWorkspace.createStack({ stackName, workDir: project.dir }, { envVars: project.envVars });
  return {
    stack,
    project,
    cliUp: async () => {
      const r = await runProcess("pulumi", ["up", "--yes", "--skip-preview", "--stack", stackName, "--non-interactive", "--color", "never"], {
        cwd: project.dir,
        env: { ...process.env, ...project.envVars },
      });
      return { ok: r.code === 0, output: r.stdout + r.stderr };
    },
    async teardown() {
      await stack.destroy().catch(() => undefined);
      await stack.workspace.removeStack(stackName, { force: true }).catch(() => undefined);
      project.cleanup();
    },
  };
}

/**
 * A stack of the repo's program on a new temp project, added to `projects`; every stack of one
 * test shares the first project's backend (so a StackReference between them resolves).
 */
export async function stackOnSharedBackend(projects: TempProject[], stackName: string, config: Record<string, unknown>): Promise<Stack> {
  const project = tempStackProject(stackName, config);
  projects.push(project);
  return LocalWorkspace.createStack({ stackName, workDir: project.dir }, { envVars: projects[0].envVars });
}

/** Destroys and removes the stacks (in the order given), then the temp projects behind them. */
export async function tearDownStacks(stacks: Array<Stack | undefined>, projects: TempProject[]): Promise<void> {
  for (const s of stacks) {
    await s?.destroy().catch(() => undefined);
    await s?.workspace.removeStack(s.name, { force: true }).catch(() => undefined);
  }
  for (const p of projects.reverse()) p.cleanup();
}

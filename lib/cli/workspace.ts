// The stack a `cutover` command works on, opened like pulumi does it: the project in --cwd
// (default: the current directory), the stack from --stack (default: the selected stack).
// When no `pulumi` is on PATH, Cutover's own engine (built by `npm run engine`) is used with
// the settings of scripts/engine-env.sh, so `npx cutover` works in a project set up that way.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { CliError } from "./args";

export interface StackRef {
  stack: Stack;
  name: string;
  project: string;
  cwd: string;
  /** Deploy key of the Deployment: `<project>/<stack>/<deployment name>` (runner/events.ts). */
  key: string;
  /** How to name this stack in a suggested command: `--stack X` (plus `--cwd D` when given). */
  flags: string;
}

export interface StackOptions {
  cwd?: string;
  stack?: string;
  deployment?: string;
}

/** The package root (dist/lib/cli → ../../..), where scripts/engine-env.sh lives. */
export const packageRoot = path.resolve(__dirname, "..", "..", "..");

/** An executable `pulumi` in a PATH directory (looked up, not run: the Automation API runs it next). */
function pulumiOnPath(): boolean {
  return (process.env.PATH ?? "").split(path.delimiter).some((dir) => {
    try {
      fs.accessSync(path.join(dir || ".", "pulumi"), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Makes `pulumi` callable: as found on PATH, else Cutover's engine with its settings. */
export function ensureEngine(): void {
  if (pulumiOnPath()) return;
  const envScript = path.join(packageRoot, "scripts", "engine-env.sh");
  if (fs.existsSync(envScript)) {
    const out = execFileSync("bash", ["-c", '. "$1" >/dev/null && env -0', "cutover", envScript], { encoding: "utf8" });
    for (const entry of out.split("\0").filter(Boolean)) {
      const i = entry.indexOf("=");
      process.env[entry.slice(0, i)] = entry.slice(i + 1);
    }
    if (pulumiOnPath()) return;
  }
  throw new CliError(
    "cutover: no `pulumi` on PATH and Cutover's engine is not built. Run `npm run engine` in the Cutover package " +
      `(${packageRoot}), or install the pulumi CLI (≥ 3.248), then run this command again.`,
  );
}

export async function openStack(o: StackOptions): Promise<StackRef> {
  ensureEngine();
  const cwd = path.resolve(o.cwd ?? process.cwd());
  if (!["Pulumi.yaml", "Pulumi.yml", "Pulumi.json"].some((f) => fs.existsSync(path.join(cwd, f)))) {
    throw new CliError(`cutover: no Pulumi project in ${cwd} (no Pulumi.yaml): run in the project's directory or pass --cwd <dir>`);
  }
  const ws = await LocalWorkspace.create({ workDir: cwd });
  let name = o.stack;
  if (!name) {
    name = (await ws.stack())?.name;
    if (!name) {
      const names = (await ws.listStacks()).map((s) => s.name);
      throw new CliError(
        `cutover: no stack selected in ${cwd}: pass --stack <name>${names.length ? ` (stacks: ${names.join(", ")})` : " (this backend has no stack of the project yet: `pulumi stack init <name>`)"}`,
      );
    }
  }
  let stack: Stack;
  try {
    stack = await Stack.select(name, ws);
  } catch (e) {
    const names = (await ws.listStacks().catch(() => [])).map((s) => s.name);
    throw new CliError(
      `cutover: cannot select stack ${name}: ${firstLine((e as Error).message)}` +
        (names.length ? ` (stacks here: ${names.join(", ")})` : "") +
        `; create it with \`pulumi stack init ${name}\` or pass another --stack`,
    );
  }
  const project = (await ws.projectSettings()).name;
  const flags = `--stack ${name}${o.cwd ? ` --cwd ${o.cwd}` : ""}`;
  return { stack, name, project, cwd, key: `${project}/${name}/${o.deployment ?? "app"}`, flags };
}

/** The meaningful line of an Automation API error (its message holds the whole CLI output). */
export function firstLine(text: string): string {
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  const error = lines.find((l) => /^error: /.test(l));
  return (error ?? lines.find((l) => !/^(code|stdout|stderr|err\?):/.test(l)) ?? lines[0] ?? "").replace(/^error: /, "");
}

const configs = new WeakMap<StackRef, ReturnType<Stack["getAllConfig"]>>();

/** The stack's whole config, read once per command (each read is a CLI run); setAppConfig keeps it current. */
export function allConfig(ref: StackRef): ReturnType<Stack["getAllConfig"]> {
  if (!configs.has(ref)) configs.set(ref, ref.stack.getAllConfig());
  return configs.get(ref)!;
}

/** The stack's `cutover:app` block (stacks/app-config.ts AppConfig), or undefined. */
export async function appConfig(ref: StackRef): Promise<Record<string, unknown> | undefined> {
  const all = await allConfig(ref);
  const v = all["cutover:app"];
  if (!v) return undefined;
  try {
    return JSON.parse(v.value) as Record<string, unknown>;
  } catch {
    throw new CliError(`cutover: cutover:app of stack ${ref.name} is not a JSON/YAML object; fix it with \`pulumi config set --path\` or in Pulumi.${ref.name}.yaml`);
  }
}

export async function setAppConfig(ref: StackRef, app: Record<string, unknown>): Promise<void> {
  const value = JSON.stringify(app);
  await ref.stack.setConfig("cutover:app", { value });
  // What was read stays true but for this key: no second read.
  const before = configs.get(ref);
  if (before) configs.set(ref, before.then((all) => ({ ...all, "cutover:app": { value, secret: false } })));
}

/** A config value read as JSON when it is JSON (structured config), else as text. */
export async function configValue(ref: StackRef, key: string): Promise<unknown> {
  const all = await allConfig(ref);
  const v = all[key];
  if (!v) return undefined;
  try {
    return JSON.parse(v.value);
  } catch {
    return v.value;
  }
}

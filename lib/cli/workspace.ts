// The stack a `cutover` command works on, opened like pulumi does it: the project in --cwd
// (default: the current directory), the stack from --stack (default: the selected stack).
// When no `pulumi` is on PATH, Cutover's own engine (built by `npm run engine`) is used with
// the settings of scripts/engine-env.sh, so `npx cutover` works in a project set up that way.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { ConfigMap } from "@pulumi/pulumi/automation";
import { CliError } from "./args";
import { PulumiStack, pulumi } from "./pulumi-stack";

export interface StackRef {
  stack: PulumiStack;
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

/** The project's name, from Pulumi.yaml's top-level `name:` (or Pulumi.json's). */
function projectName(cwd: string): string | undefined {
  for (const file of ["Pulumi.yaml", "Pulumi.yml", "Pulumi.json"]) {
    const p = path.join(cwd, file);
    if (!fs.existsSync(p)) continue;
    const text = fs.readFileSync(p, "utf8");
    if (file.endsWith(".json")) return (JSON.parse(text) as { name?: string }).name;
    return text.match(/^name:[ \t]*["']?([^"'\s#]+)/m)?.[1];
  }
  return undefined;
}

interface StackSummary {
  name: string;
  current: boolean;
}

const listStacks = async (cwd: string) => JSON.parse(await pulumi(["stack", "ls", "--json", "--non-interactive"], cwd)) as StackSummary[];

export async function openStack(o: StackOptions): Promise<StackRef> {
  ensureEngine();
  const cwd = path.resolve(o.cwd ?? process.cwd());
  const project = projectName(cwd);
  if (!project) {
    throw new CliError(`cutover: no Pulumi project in ${cwd} (no Pulumi.yaml with a name): run in the project's directory or pass --cwd <dir>`);
  }
  let name = o.stack;
  if (!name) {
    const stacks = await listStacks(cwd);
    name = stacks.find((s) => s.current)?.name;
    if (!name) {
      const names = stacks.map((s) => s.name);
      throw new CliError(
        `cutover: no stack selected in ${cwd}: pass --stack <name>${names.length ? ` (stacks: ${names.join(", ")})` : " (this backend has no stack of the project yet: `pulumi stack init <name>`)"}`,
      );
    }
  }
  const flags = `--stack ${name}${o.cwd ? ` --cwd ${o.cwd}` : ""}`;
  return { stack: new PulumiStack(name, cwd, unknownStack), name, project, cwd, key: `${project}/${name}/${o.deployment ?? "app"}`, flags };
}

/** The error for a --stack that names no stack: which there are, how to make it. */
async function unknownStack(name: string, cwd: string, error: Error): Promise<Error> {
  const names = (await listStacks(cwd).catch(() => [])).map((s) => s.name);
  return new CliError(
    `cutover: cannot select stack ${name}: ${firstLine(error.message)}` +
      (names.length ? ` (stacks here: ${names.join(", ")})` : "") +
      `; create it with \`pulumi stack init ${name}\` or pass another --stack`,
  );
}

/** The meaningful line of a failed CLI run's error (its message holds the whole output). */
export function firstLine(text: string): string {
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  const error = lines.find((l) => /^error: /.test(l));
  return (error ?? lines.find((l) => !/^(code|stdout|stderr|err\?):/.test(l)) ?? lines[0] ?? "").replace(/^error: /, "");
}

const configs = new WeakMap<StackRef, Promise<ConfigMap>>();

/** The stack's whole config, read once per command (each read is a CLI run). */
export function allConfig(ref: StackRef): Promise<ConfigMap> {
  if (!configs.has(ref)) configs.set(ref, ref.stack.allConfig());
  return configs.get(ref)!;
}

/** The stack's `cutover:app` block (lib/config/app-config.ts AppConfig), or undefined. */
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

/**
 * `cutover:app` as `pulumi up --config` saves it before the update (one CLI run less than a
 * `pulumi config set` first); the same plaintext JSON text `pulumi config set` would store.
 */
export function appConfigSetting(app: Record<string, unknown>): Record<string, string> {
  return { "cutover:app": JSON.stringify(app) };
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

// Command-line parsing for `cutover`: `--name value`, `--name=value` and boolean `--flag`,
// checked against what each subcommand accepts, so a typo fails with the list of options
// instead of being ignored.

/** A mistake in how the command was called: printed with the subcommand's usage, exit 2. */
export class UsageError extends Error {}

/** A failure with what to do about it; printed as is, exit 1. */
export class CliError extends Error {}

export interface OptionSpec {
  /** Takes a value (`--stack dev`); otherwise a boolean flag. */
  value?: boolean;
  help: string;
  /** Placeholder shown in help for a value option. */
  arg?: string;
}

export interface Parsed {
  _: string[];
  [option: string]: string | boolean | string[] | undefined;
}

export function parseArgs(argv: string[], spec: Record<string, OptionSpec>): Parsed {
  const out: Parsed = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      out._.push(...argv.slice(i + 1));
      break;
    }
    if (a === "-h") {
      out.help = true;
      continue;
    }
    if (!a.startsWith("--")) {
      out._.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const s = spec[name];
    if (!s) throw new UsageError(`unknown option --${name}; options: ${Object.keys(spec).map((k) => `--${k}`).join(", ")}`);
    if (!s.value) {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      out[name] = true;
      continue;
    }
    const value = eq >= 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined || (eq < 0 && value.startsWith("--"))) throw new UsageError(`--${name} needs a value (${s.arg ?? "value"})`);
    out[name] = value;
  }
  return out;
}

export function optionHelp(spec: Record<string, OptionSpec>): string {
  const rows = Object.entries(spec).map(([k, s]) => [`--${k}${s.value ? ` ${s.arg ?? "VALUE"}` : ""}`, s.help]);
  const width = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([a, h]) => `  ${a.padEnd(width)}  ${h}`).join("\n");
}

export function str(p: Parsed, name: string): string | undefined {
  const v = p[name];
  return typeof v === "string" ? v : undefined;
}

export function positiveInt(p: Parsed, name: string): number | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  if (!/^[1-9][0-9]{0,5}$/.test(v)) throw new UsageError(`--${name} must be a whole number ≥ 1, got ${JSON.stringify(v)}`);
  return Number(v);
}

// The stack as the `cutover` commands reach it: the pulumi CLI itself, one run per question,
// each naming the stack with --stack. Not the Automation API: loading it took 0.7 s, and opening
// a stack through it ran `pulumi version` and `pulumi stack select` (another 0.5 s) before the
// first question was asked — measured as a third of a warm `cutover rollback`'s own time.
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ConfigMap, UpdateSummary } from "@pulumi/pulumi/automation";

export type StackOutputs = Record<string, { value: unknown }>;

/** Runs `pulumi ARGS` in `cwd`; its stdout, or an error whose message holds its output. */
export function pulumi(args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("pulumi", args, { cwd, maxBuffer: 256 * 1024 * 1024 }, (error, stdout, stderr) => {
      // Pulumi's own words first ("error: …", what firstLine() picks), then which run it was.
      if (error) reject(new Error(`${stderr.trim() || stdout.trim()}\n(\`pulumi ${args.slice(0, 2).join(" ")}\` exited with ${String(error.code)})`));
      else resolve(stdout);
    });
  });
}

export class PulumiStack {
  constructor(
    readonly name: string,
    readonly cwd: string,
    /** The error to raise when the stack does not exist (no `pulumi stack select` checks it first). */
    private readonly unknown: (name: string, cwd: string, error: Error) => Promise<Error>,
  ) {}

  async run(args: string[]): Promise<string> {
    try {
      return await pulumi([...args, "--stack", this.name, "--non-interactive"], this.cwd);
    } catch (e) {
      throw /no stack named/i.test((e as Error).message) ? await this.unknown(this.name, this.cwd, e as Error) : e;
    }
  }

  /** Every output, secrets in the clear (the deploy key reaches the hosts; nothing prints it). */
  async outputs(): Promise<StackOutputs> {
    const values = JSON.parse(await this.run(["stack", "output", "--json", "--show-secrets"])) as Record<string, unknown>;
    return Object.fromEntries(Object.entries(values).map(([k, value]) => [k, { value }]));
  }

  /** Newest first; `pageSize` reads only that many updates (a file backend reads one file each). */
  async history(pageSize?: number): Promise<UpdateSummary[]> {
    const page = pageSize ? ["--page-size", String(pageSize), "--page", "1"] : [];
    const out = await this.run(["stack", "history", "--json", "--show-secrets", ...page]);
    return JSON.parse(out, (k, v: unknown) => ((k === "startTime" || k === "endTime") && typeof v === "string" ? new Date(v) : v)) as UpdateSummary[];
  }

  async allConfig(): Promise<ConfigMap> {
    return JSON.parse(await this.run(["config", "--show-secrets", "--json"])) as ConfigMap;
  }

  /** The backend's URL (`pulumi whoami`), for a file backend's lock and history files. */
  async backendUrl(): Promise<string | undefined> {
    if (process.env.PULUMI_BACKEND_URL) return process.env.PULUMI_BACKEND_URL;
    const who = JSON.parse(await pulumi(["whoami", "--json", "--non-interactive"], this.cwd).catch(() => "{}")) as { url?: string };
    return who.url;
  }

  async cancel(): Promise<void> {
    await this.run(["cancel", "--yes"]);
  }

  async exportState(): Promise<{ version: number; deployment?: unknown }> {
    return JSON.parse(await this.run(["stack", "export", "--show-secrets"])) as { version: number; deployment?: unknown };
  }

  async importState(state: unknown): Promise<void> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-state-"));
    const file = path.join(dir, "state.json");
    try {
      // The state holds secrets in the clear: only this user reads it, and it is gone at once.
      fs.writeFileSync(file, JSON.stringify(state), { mode: 0o600 });
      await this.run(["stack", "import", "--file", file]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

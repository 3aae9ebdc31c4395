// `pulumi up` as `cutover deploy` and `cutover rollback` run it: the CLI itself, with its engine
// events read from the `--event-log` file as they are written. Not the Automation API's
// `stack.up()`: that one runs `pulumi stack output` twice and `pulumi stack history` after the
// update (~1.2 s here) for a result these commands do not use — a warm rollback's whole
// `up` takes a few seconds, and those runs were a fifth of it.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import type { StackRef } from "./workspace";

export interface UpOptions {
  message?: string;
  /** `--config key=value`: set and saved in the stack's settings before the update runs. */
  config?: Record<string, string>;
  /** Pulumi's own output, as it comes. */
  onOutput?: (text: string) => void;
  onEvent: (e: EngineEvent) => void;
  /** Aborting sends the CLI one SIGINT: it stops after the steps in flight. */
  signal: AbortSignal;
}

/** Resolves once the CLI has exited and every event it logged was handed to onEvent; rejects with its output when it failed. */
export async function pulumiUp(ref: StackRef, o: UpOptions): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-up-"));
  const log = path.join(dir, "events.jsonl");
  fs.writeFileSync(log, "");
  const args = ["up", "--yes", "--skip-preview", "--stack", ref.name, "--non-interactive", "--color", "never", "--event-log", log];
  if (o.message) args.push("--message", o.message);
  for (const [key, value] of Object.entries(o.config ?? {})) args.push("--config", `${key}=${value}`);
  let offset = 0;
  let partial = "";
  const drain = () => {
    const size = fs.statSync(log).size;
    if (size <= offset) return;
    const fd = fs.openSync(log, "r");
    const buf = Buffer.alloc(size - offset);
    fs.readSync(fd, buf, 0, buf.length, offset);
    fs.closeSync(fd);
    offset = size;
    const lines = (partial + buf.toString("utf8")).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) if (line.trim()) o.onEvent(JSON.parse(line) as EngineEvent);
  };
  const output: string[] = [];
  try {
    const code = await new Promise<number>((resolve, reject) => {
      // --event-log is one of the CLI's debug flags (the Automation API sets this too).
      const child = spawn("pulumi", args, { cwd: ref.cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PULUMI_DEBUG_COMMANDS: "true" } });
      const take = (d: Buffer) => {
        output.push(d.toString("utf8"));
        o.onOutput?.(d.toString("utf8"));
      };
      child.stdout.on("data", take);
      child.stderr.on("data", take);
      const onAbort = () => child.kill("SIGINT");
      o.signal.addEventListener("abort", onAbort, { once: true });
      const timer = setInterval(drain, 100);
      child.on("error", (e) => {
        clearInterval(timer);
        reject(e);
      });
      child.on("close", (c, sig) => {
        clearInterval(timer);
        o.signal.removeEventListener("abort", onAbort);
        resolve(c ?? (sig ? 128 : 1));
      });
    });
    drain();
    if (code !== 0) throw new Error(`pulumi up exited with ${code}\n${output.join("")}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// A bounded HTTP load against the load balancer while a deploy runs, with wrk (Debian's
// package): started before the deploy, stopped with SIGINT right after it (wrk then prints
// its totals), and never longer than `maxSeconds` whatever happens. Loopback targets only.
import { spawn, ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface LoadResult {
  requests: number;
  /** non-2xx/3xx responses + socket errors (connect, read, write, timeout). */
  failed: number;
  non2xx: number;
  socketErrors: number;
  seconds: number;
  raw: string;
}

export interface RunningLoad {
  stop(): Promise<LoadResult>;
}

export function parseWrk(out: string): LoadResult {
  const num = (re: RegExp) => Number(out.match(re)?.[1] ?? 0);
  const requests = num(/(\d+) requests in/);
  // wrk prints the duration as 812.34ms, 26.14s or 1.00m.
  const took = out.match(/requests in ([\d.]+)(ms|s|m),/);
  const seconds = took ? Number(took[1]) * { ms: 0.001, s: 1, m: 60 }[took[2] as "ms" | "s" | "m"] : 0;
  const sock = out.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  const socketErrors = sock ? sock.slice(1, 5).map(Number).reduce((a, b) => a + b, 0) : 0;
  const non2xx = num(/Non-2xx or 3xx responses: (\d+)/);
  if (!/requests in/.test(out)) throw new Error(`wrk printed no totals:\n${out}`);
  return { requests, failed: non2xx + socketErrors, non2xx, socketErrors, seconds, raw: out };
}

export interface LoadOptions {
  connections?: number;
  threads?: number;
  maxSeconds?: number;
  /**
   * Milliseconds each connection waits before its next request (wrk's Lua `delay()`): a paced
   * load that leaves the CPU to the hosts, instead of one that takes every cycle it can get.
   */
  pauseMs?: number;
}

/** The pause between a connection's requests; throws naming the value when it is not usable. */
export function validatePauseMs(pause: number, argument = "pauseMs"): number {
  if (!Number.isInteger(pause) || pause < 0 || pause > 10_000) throw new Error(`${argument} ${pause} is invalid: give whole milliseconds from 0 to 10000`);
  return pause;
}

export function startLoad(url: string, opts: LoadOptions = {}): RunningLoad {
  const host = new URL(url).hostname;
  if (!/^127\.\d+\.\d+\.\d+$/.test(host)) throw new Error(`load target ${url} is not a loopback address: only 127.0.0.0/8 is allowed`);
  const pause = validatePauseMs(opts.pauseMs ?? 0);
  const luaDir = pause > 0 ? fs.mkdtempSync(path.join(os.tmpdir(), "cutover-load-")) : undefined;
  const pacing = luaDir ? path.join(luaDir, "pace.lua") : undefined;
  if (pacing) fs.writeFileSync(pacing, `function delay()\n  return ${pause}\nend\n`);
  const args = [`-t${opts.threads ?? 2}`, `-c${opts.connections ?? 16}`, `-d${opts.maxSeconds ?? 300}s`, "--timeout", "5s", ...(pacing ? ["-s", pacing] : []), url];
  const child: ChildProcess = spawn("wrk", args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve, reject) => {
    child.on("error", (e) => reject(new Error(`cannot run wrk (install Debian's wrk package): ${e.message}`)));
    child.on("close", () => resolve());
  }).finally(() => luaDir && fs.rmSync(luaDir, { recursive: true, force: true }));
  return {
    async stop() {
      if (child.exitCode === null) child.kill("SIGINT");
      await exited;
      return parseWrk(out);
    },
  };
}

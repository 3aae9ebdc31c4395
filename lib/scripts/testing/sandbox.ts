/**
 * Test support for lib/scripts (not exported from the library): runs generated scripts for
 * real, under bash and dash (the login shell on a host may be either), against throwaway
 * deploy roots. Kept out of *.test.ts files so several test files can share it.
 */
import { execFile, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export const SHELLS = ["bash", "dash"] as const;
export type Shell = (typeof SHELLS)[number];

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  shell?: Shell;
  env?: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
}

function env(extra: Record<string, string> | undefined): NodeJS.ProcessEnv {
  return { ...process.env, LC_ALL: "C.UTF-8", ...extra };
}

/** Runs `script` with `<shell> -c`, synchronously. */
export function run(script: string, { shell = "bash", env: extra, cwd, timeoutMs = 20_000 }: RunOptions = {}): RunResult {
  const r = spawnSync(shell, ["-c", script], { encoding: "utf8", env: env(extra), cwd, timeout: timeoutMs });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Same, without blocking the event loop (for tests that serve HTTP from this process). */
export function runAsync(script: string, { shell = "bash", env: extra, cwd, timeoutMs = 20_000 }: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(shell, ["-c", script], { encoding: "utf8", env: env(extra), cwd, timeout: timeoutMs }, (error, stdout, stderr) => {
      const status = error ? (typeof error.code === "number" ? error.code : -1) : 0;
      resolve({ status, stdout, stderr });
    });
  });
}

export interface Sandbox {
  /** The temp directory holding everything. */
  dir: string;
  /** A deploy root inside it, with a name that needs quoting. */
  root: string;
  cleanup(): void;
}

/**
 * A fresh deploy root. Its name has a space, a quote and `$(…)` in it, so every test that
 * uses it also proves those paths survive the generated scripts.
 */
export function sandbox(rootName = "app's $(root) `x`; y"): Sandbox {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-scripts-"));
  fs.chmodSync(dir, 0o755);
  const root = path.join(dir, rootName);
  fs.mkdirSync(root);
  return { dir, root, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export function sha256File(file: string): string {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/** Writes `files` into a fresh directory and packs it as a .tar.gz with the tar CLI. */
export function makeArtifact(dir: string, files: Record<string, string>, name = "app.tar.gz"): { path: string; sha256: string } {
  const src = fs.mkdtempSync(path.join(dir, "src-"));
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(src, rel)), { recursive: true });
    fs.writeFileSync(path.join(src, rel), content);
  }
  const out = path.join(dir, name);
  const r = spawnSync("tar", ["-czf", out, "-C", src, "."], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`tar failed: ${r.stderr}`);
  return { path: out, sha256: sha256File(out) };
}

/** A release directory as prepare leaves it (for tests of later steps). */
export function fakeRelease(root: string, id: string, { prepared = true, activatedAt }: { prepared?: boolean; activatedAt?: number } = {}): string {
  const dir = path.join(root, "releases", id);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "REVISION"), `${id}\n`);
  if (prepared) fs.writeFileSync(path.join(dir, ".prepared"), "");
  if (activatedAt !== undefined) {
    // Prune orders by .activated, else .prepared, else the directory itself.
    if (prepared) {
      fs.writeFileSync(path.join(dir, ".activated"), "");
      fs.utimesSync(path.join(dir, ".activated"), activatedAt, activatedAt);
      fs.utimesSync(path.join(dir, ".prepared"), activatedAt - 1, activatedAt - 1);
    }
    fs.utimesSync(dir, activatedAt, activatedAt);
  }
  return dir;
}

/** `releases/<id>` as the release `current` points to, or undefined. */
export function currentOf(root: string): string | undefined {
  try {
    return fs.readlinkSync(path.join(root, "current"));
  } catch {
    return undefined;
  }
}

export function historyOf(root: string): Array<Record<string, unknown>> {
  const file = path.join(root, ".cutover", "history.log");
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** A release id for tests: `v<n>-<n as 12 hex digits>`. */
export const rid = (n: number) => `v${n}-${n.toString(16).padStart(12, "0")}`;

export function hasCommand(name: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${name}`]).status === 0;
}

/** The main config of a private supervisord in `dir` (socket `dir`/supervisor.sock), without programs. */
export function supervisordConfigLines(dir: string): string[] {
  return [
    "[unix_http_server]",
    `file=${dir}/supervisor.sock`,
    "[supervisord]",
    `pidfile=${dir}/supervisord.pid`,
    `logfile=${dir}/supervisord.log`,
    `directory=${dir}`,
    // Programs without their own log files get them here, not in /tmp.
    `childlogdir=${dir}`,
    "[rpcinterface:supervisor]",
    "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
    "[supervisorctl]",
    `serverurl=unix://${dir}/supervisor.sock`,
  ];
}

/** A process is running (not gone, not a zombie waiting to be reaped). */
export function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Waits up to `ms` for every pid to be gone (a killed process may take a moment to go). */
export function allGone(pids: readonly number[], ms = 3000): boolean {
  const end = Date.now() + ms;
  while (pids.some(isAlive) && Date.now() < end) spawnSync("sleep", ["0.05"]);
  return !pids.some(isAlive);
}

/** Nobody holds a flock on `file` (the check takes and drops it at once). */
export function lockIsFree(file: string): boolean {
  // Read from the kernel's lock table, as lock_key does on hosts: probing with `flock -n` takes
  // the lock for an instant, and a holder's own `flock -n` in that instant fails (a CI run's
  // lock holder never took the lock that way).
  let st: fs.BigIntStats;
  try {
    st = fs.statSync(file, { bigint: true });
  } catch {
    return true;
  }
  const major = ((st.dev >> 8n) & 0xfffn) | ((st.dev >> 32n) & ~0xfffn);
  const minor = (st.dev & 0xffn) | ((st.dev >> 12n) & ~0xffn);
  const key = ` ${major.toString(16).padStart(2, "0")}:${minor.toString(16).padStart(2, "0")}:${st.ino} `;
  return !fs.readFileSync("/proc/locks", "utf8").split("\n").some((l) => l.includes(" FLOCK ") && l.includes(key));
}

/** Kills what a test started and left running, with their children (already gone is fine). */
export function killAll(pids: readonly number[]): void {
  for (const pid of pids) {
    // Children first: once the parent is gone they belong to init and are hard to find.
    let children: number[] = [];
    try {
      children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(" ").filter(Boolean).map(Number);
    } catch {
      // gone already, or no /proc children file
    }
    killAll(children);
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone already
    }
  }
}

/** Pids listed one a line in `file` (a test's commands write them there), or none. */
export function pidsIn(file: string): number[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => /^\d+$/.test(l))
    .map(Number);
}

/** Waits up to `ms` until `file` lists `count` pids (a background process writes them), and returns them. */
export function waitForPids(file: string, count: number, ms = 3000): number[] {
  const end = Date.now() + ms;
  while (pidsIn(file).length < count && Date.now() < end) spawnSync("sleep", ["0.02"]);
  return pidsIn(file);
}

/**
 * Runs `sh -c SCRIPT sh FILE ARGS…`, which starts something that flocks `file` in the
 * background (its output away from this test's pipes), and waits until `file` is locked;
 * returns what the script printed, e.g. a pid.
 */
export function startLockHolder(script: string, file: string, ...args: string[]): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const r = spawnSync("sh", ["-c", script, "sh", file, ...args], { encoding: "utf8", timeout: 10_000 });
  if (r.status !== 0) throw new Error(`lock holder failed: ${r.stderr}`);
  for (let i = 0; i < 200 && lockIsFree(file); i++) spawnSync("sleep", ["0.02"]);
  if (lockIsFree(file)) throw new Error("the lock holder did not take the lock");
  return r.stdout.trim();
}

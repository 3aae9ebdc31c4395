// Why this file reads the disk while the program runs: the local fleet's daemons are plain
// processes, and after a reboot (or a kill) their state files remain while the processes
// are gone. Pulumi's local commands cannot notice that by themselves, so the program
// compares each daemon's pid file with /proc and hands the daemon resource an "epoch":
//   - never started (no epoch file) → 0, the create step starts it;
//   - running                       → the recorded epoch: no change, nothing runs;
//   - recorded but dead             → recorded + 1: an update that starts it again, which
//     records the new epoch, so the next `up` sees it running and changes nothing.
import * as fs from "node:fs";

export interface DaemonFiles {
  pidFile: string;
  /** The daemon's config path, which appears in its command line. */
  configPath: string;
  epochFile: string;
}

function read(path: string): string | undefined {
  try {
    return fs.readFileSync(path, "utf8").trim();
  } catch {
    return undefined;
  }
}

export function isDaemonRunning(d: Pick<DaemonFiles, "pidFile" | "configPath">): boolean {
  const pid = read(d.pidFile);
  if (!pid || !/^\d+$/.test(pid)) return false;
  const cmdline = read(`/proc/${pid}/cmdline`);
  return cmdline !== undefined && cmdline.split("\0").join(" ").includes(d.configPath);
}

export function daemonEpoch(d: DaemonFiles): number {
  const recorded = read(d.epochFile);
  if (recorded === undefined) return 0;
  const epoch = /^\d+$/.test(recorded) ? Number(recorded) : 0;
  return isDaemonRunning(d) ? epoch : epoch + 1;
}

// `cutover unlock`: after an update was killed (Ctrl-C twice, a CI job cancelled, a reboot),
// Pulumi's stack lock and the pending operations it recorded stay behind and block the next
// update. This checks that no update of the stack is running, then removes exactly those and
// says what it removed. Host locks are flock locks, freed by the kernel when their holder
// ends, so they are never stale: a held one is reported (a step still running on the host),
// never removed.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { UpdateSummary } from "@pulumi/pulumi/automation";

export interface StackLock {
  file: string;
  pid: number;
  username: string;
  hostname: string;
  timestamp: string;
}

export type LockVerdict = { running: false } | { running: true; why: string; certain: boolean };

/** The DIY backend's root directory for a file:// URL, or undefined for other backends. */
export function fileBackendRoot(url: string | undefined): string | undefined {
  if (!url?.startsWith("file://")) return undefined;
  const p = url.slice("file://".length).replace(/\?.*$/, "");
  return p.startsWith("~") ? path.join(os.homedir(), p.slice(1)) : p;
}

/** Lock files of a stack in a file backend (`.pulumi/locks/<org>/<project>/<stack>/*.json`). */
export function stackLocks(root: string, project: string, stack: string): StackLock[] {
  const dirs = [path.join(root, ".pulumi", "locks", "organization", project, stack), path.join(root, ".pulumi", "locks", stack)];
  const found: StackLock[] = [];
  for (const dir of dirs) {
    let names: string[] = [];
    try {
      names = fs.readdirSync(dir).filter((n) => n.endsWith(".json"));
    } catch {
      continue;
    }
    for (const n of names) {
      const file = path.join(dir, n);
      try {
        const c = JSON.parse(fs.readFileSync(file, "utf8")) as Omit<StackLock, "file">;
        found.push({ file, pid: c.pid, username: c.username, hostname: c.hostname, timestamp: c.timestamp });
      } catch {
        found.push({ file, pid: 0, username: "?", hostname: "?", timestamp: "?" });
      }
    }
  }
  return found;
}

function processIsPulumi(pid: number): boolean {
  try {
    return /pulumi/.test(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8"));
  } catch {
    return false;
  }
}

/** Whether the lock's holder is a live pulumi process (checkable only for this machine's locks). */
export function lockVerdict(lock: StackLock, hostname = os.hostname(), alive: (pid: number) => boolean = processIsPulumi): LockVerdict {
  const who = `${lock.username}@${lock.hostname}, pid ${lock.pid}, since ${lock.timestamp}`;
  if (lock.hostname !== hostname) return { running: true, certain: false, why: `the stack lock was taken on another machine (${who}); this machine cannot see whether that update still runs` };
  if (lock.pid > 0 && alive(lock.pid)) return { running: true, certain: true, why: `an update of the stack is running (${who})` };
  return { running: false };
}

/** Backends other than files show a running update as a history entry "in-progress". */
export function inProgress(history: UpdateSummary[]): UpdateSummary | undefined {
  const latest = history[0];
  return latest && latest.result === "in-progress" ? latest : undefined;
}

export interface PendingOp {
  type: string;
  resource: { urn: string; type: string };
}

export function describePending(op: PendingOp): string {
  return `${op.type} ${op.resource.urn.split("::").pop()} (${op.resource.type})`;
}

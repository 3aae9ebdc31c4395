import { afterEach, beforeEach, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import { hostScript } from "./common";
import { type LockArgs } from "./lock";
import { SHELLS, killAll, lockIsFree, rid, run, sandbox, startLockHolder, waitForPids, type Sandbox } from "./testing/sandbox";

let box: Sandbox;
let lock: LockArgs;
let started: number[];
beforeEach(() => {
  box = sandbox();
  lock = { root: box.root, owner: "Ann <ann@example.com>", stack: "prod", release: rid(2), step: "prepare" };
  started = [];
});
afterEach(() => {
  killAll(started);
  box.cleanup();
});

const lockFile = () => path.join(box.root, ".cutover", "deploy.lock");
const lockInfo = () => path.join(box.root, ".cutover", "deploy.lock.info");
const locked = (vars: Record<string, string> = {}) => hostScript({ host: "web1", lock, vars, body: ['say work "holding the lock"'] });

/** deploy.lock.info as an earlier step left it: its pid is long gone. */
function staleInfo(): void {
  fs.mkdirSync(path.dirname(lockInfo()), { recursive: true });
  fs.writeFileSync(lockInfo(), `owner=Bob\nstack=staging\nrelease=${rid(1)}\nstep=prepare\npid=999999\ntime=2030-01-02T03:04:05Z\n`);
}

const WHO = `cutover[web1] lock: host web1 is being deployed by Bob (stack staging, release ${rid(1)}, step prepare) since 2030-01-02T03:04:05Z; `;
const WAIT = "wait for that deploy to finish and run `pulumi up` again — the lock frees itself when that process ends";

describe.each(SHELLS)("the host lock under %s", (shell) => {
  it("a free lock is taken, the body runs, and who deploys is recorded", () => {
    const r = run(locked(), { shell });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("cutover[web1] work: holding the lock\n");
    expect(fs.readFileSync(lockInfo(), "utf8")).toMatch(
      new RegExp(`^owner=Ann <ann@example\\.com>\\nstack=prod\\nrelease=${rid(2)}\\nstep=prepare\\npid=\\d+\\ntime=\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\\n$`),
    );
    expect(lockIsFree(lockFile())).toBe(true);
  });

  it("held by a process that took it itself: names that process, not the record's stale pid", () => {
    staleInfo();
    const pid = Number(startLockHolder('flock -n "$1" sleep 30 </dev/null >/dev/null 2>&1 & echo "$!"', lockFile()));
    started.push(pid);
    const r = run(locked(), { shell });
    expect(r.status).toBe(75);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      `${WHO}the lock is held by pid ${pid} on the host (flock -n ${lockFile()} sleep 30); ${WAIT}; if it hangs, stop it on the host: kill ${pid}\n`,
    );
    expect(r.stderr).not.toContain("999999");
  });

  it("held by a deploy's shell (flock -n 9 is a process of its own that ended): names the shell, not its child", () => {
    staleInfo();
    const pids = path.join(box.dir, "pids");
    const shellPid = Number(
      startLockHolder('(exec 9>>"$1"; flock -n 9; sleep 30 & echo "$!" > "$2"; wait) </dev/null >/dev/null 2>&1 & echo "$!"', lockFile(), pids),
    );
    // Its child writes its pid once started: wait for it, so the cleanup can kill it too.
    started.push(shellPid, ...waitForPids(pids, 1));
    const r = run(locked(), { shell });
    expect(r.status).toBe(75);
    expect(r.stderr.startsWith(`${WHO}the lock is held by pid ${shellPid} on the host (sh -c (exec 9>>"$1"; flock -n 9; sleep 30 `)).toBe(true);
    expect(r.stderr).toContain(`; ${WAIT}; if it hangs, stop it on the host: kill ${shellPid}\n`);
    expect(r.stderr).not.toContain("999999");
  });

  it("held by a process that inherited the descriptor of a shell that ended: names that process", () => {
    staleInfo();
    const pid = Number(startLockHolder('exec 9>>"$1"; flock -n 9; sleep 30 </dev/null >/dev/null 2>&1 & echo "$!"', lockFile()));
    started.push(pid);
    const r = run(locked(), { shell });
    expect(r.status).toBe(75);
    expect(r.stderr).toBe(`${WHO}the lock is held by pid ${pid} on the host (sleep 30); ${WAIT}; if it hangs, stop it on the host: kill ${pid}\n`);
  });

  it("says plainly when the holder cannot be told, and gives no pid to kill", () => {
    staleInfo();
    const pid = Number(startLockHolder('flock -n "$1" sleep 30 </dev/null >/dev/null 2>&1 & echo "$!"', lockFile()));
    started.push(pid);
    // A host without /proc, or whose holder lives in another pid namespace: nothing to read.
    const noProc = path.join(box.dir, "no-proc");
    fs.mkdirSync(noProc);
    const r = run(locked({ lock_proc: noProc }), { shell });
    expect(r.status).toBe(75);
    expect(r.stderr).toBe(`${WHO}the holder's pid cannot be read on this host (a process that has ${lockFile()} open holds it); ${WAIT}\n`);
  });
});

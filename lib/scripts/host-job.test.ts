// The host's side of a cycle, run for real under bash and dash against a throwaway root. The
// job is detached (setsid) and outlives whatever started it, so each test waits for it through
// attachJob, as the runner does. The check is a command reading the release's REVISION: a "bad"
// release is one with a BROKEN file; the restart appends to restarts.log in the deploy root.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import {
  DEFAULT_CYCLE_LIMITS,
  attachJob,
  jobLimitSeconds,
  parseAttach,
  parseCycleProbe,
  parseStable,
  probeCycle,
  startJob,
  watchStable,
  type AttachReply,
  type CycleLimits,
  type HostCheck,
  type JobArgs,
} from "./host-job";
import { currentOf, fakeRelease, historyOf, lockIsFree, rid, run, runAsync, sandbox, type Sandbox, type Shell, SHELLS } from "./testing/sandbox";

let box: Sandbox;
const daemons: number[] = [];
beforeEach(() => {
  box = sandbox();
  for (const n of [1, 2, 3]) fakeRelease(box.root, rid(n));
  fakeRelease(box.root, rid(4), { prepared: false });
  // Release 3 is broken: its check fails.
  fs.writeFileSync(path.join(box.root, "releases", rid(3), "BROKEN"), "");
});
afterEach(() => {
  // Whatever a test left running on purpose (a daemon, a hung restart) goes with it.
  for (const pid of daemons.splice(0)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  box.cleanup();
});

const at = (...p: string[]) => path.join(box.root, ...p);
const jobFile = (id: string, ext: string) => at(".cutover", "jobs", `${id}.${ext}`);
const read = (file: string) => fs.readFileSync(file, "utf8");
const restarts = () => (fs.existsSync(at("restarts.log")) ? read(at("restarts.log")).trim().split("\n") : []);
const lockFree = () => lockIsFree(at(".cutover", "deploy.lock"));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A start refused because another job holds the host lock (EX_TEMPFAIL, see lock.ts). */
const LOCK_HELD = 75;

const RESTART = 'echo "restart $(cat current/REVISION)" >> restarts.log';
const CHECK_COMMAND = 'test ! -e BROKEN && grep -q "$CUTOVER_RELEASE" REVISION';
const CHECK: HostCheck = { kind: "command", command: CHECK_COMMAND, deadlineSeconds: 1 };
const LIMITS: CycleLimits = { restart: 5, alive: 5, checkCommand: 5 };

let seq = 0;
function job(n: number, more: Partial<JobArgs> = {}): JobArgs {
  return {
    root: box.root,
    host: "web1",
    releaseId: rid(n),
    restartCommand: RESTART,
    check: CHECK,
    limits: LIMITS,
    kind: "switch",
    jobId: `${Date.now()}-${more.kind ?? "switch"}-${++seq}`,
    by: "alice",
    lock: { owner: "alice", stack: "prod" },
    ...more,
  };
}

const cycleArgs = (n: number, more: Partial<JobArgs> = {}) => {
  const { kind: _k, jobId: _j, by: _b, lock: _l, ...args } = job(n, more);
  return args;
};

function start(a: JobArgs, shell: Shell) {
  const r = run(startJob(a), { shell });
  return r;
}

/** Attaches as the runner does; waits up to `wait` seconds for the job to end. */
async function attach(id: string, shell: Shell, wait = 20): Promise<AttachReply | undefined> {
  const r = await runAsync(attachJob({ root: box.root, host: "web1", jobId: id, waitSeconds: wait }), { shell, timeoutMs: (wait + 10) * 1000 });
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  return parseAttach(r.stdout);
}

/** Starts a job and waits for its outcome. */
async function startAndWait(a: JobArgs, shell: Shell): Promise<AttachReply | undefined> {
  const s = start(a, shell);
  expect(s.stderr).toBe("");
  expect(s.stdout).toBe(`cutover-job started ${a.jobId}\n`);
  expect(s.status).toBe(0);
  return attach(a.jobId, shell);
}

async function probe(n: number, shell: Shell, more: Partial<JobArgs> = {}) {
  const r = await runAsync(probeCycle(cycleArgs(n, more)), { shell });
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  return parseCycleProbe(r.stdout);
}

/** How long the job ran, from taking the lock to writing its outcome (its own files' times). */
const jobMs = (id: string) => fs.statSync(jobFile(id, "result")).mtimeMs - fs.statSync(jobFile(id, "started")).mtimeMs;

const untilFile = async (file: string, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!fs.existsSync(file) || read(file).trim() === "") {
    if (Date.now() > end) throw new Error(`${file} did not appear within ${ms} ms`);
    await sleep(20);
  }
  return read(file).trim();
};

describe.each(SHELLS)("startJob / attachJob under %s", (shell) => {
  it("switch: current moves, outcome ok, history line, previous recorded, lock free after", async () => {
    const first = job(1);
    expect(await startAndWait(first, shell)).toMatchObject({ state: "done", outcome: { result: "ok" } });
    const second = job(2);
    const reply = await startAndWait(second, shell);
    expect(reply).toMatchObject({ state: "done", outcome: { result: "ok" } });
    expect(reply && "log" in reply ? reply.log : "").toBe(
      [
        `cutover[web1] switch: current -> releases/${rid(2)} (was ${rid(1)})`,
        `cutover[web1] check: release ${rid(2)} passes its command check (attempt 1)`,
        "cutover[web1] job: ok",
        "",
      ].join("\n"),
    );
    expect(read(jobFile(second.jobId, "result"))).toBe("ok\n");
    expect(read(at(".cutover", "jobs", "latest"))).toBe(`${second.jobId}\n`);
    expect(currentOf(box.root)).toBe(`releases/${rid(2)}`);
    expect(read(at(".cutover", "previous"))).toBe(`${rid(1)}\n`);
    expect(historyOf(box.root)).toMatchObject([
      { release: rid(1), previous: null, by: "alice", action: "activate" },
      { release: rid(2), previous: rid(1), by: "alice", action: "activate" },
    ]);
    expect(fs.existsSync(at("releases", rid(2), ".activated"))).toBe(true);
    expect(restarts()).toEqual([`restart ${rid(1)}`, `restart ${rid(2)}`]);
    expect(lockFree()).toBe(true);
    // The lock record names the job's own process.
    expect(read(at(".cutover", "deploy.lock.info"))).toMatch(new RegExp(`^step=cycle\\npid=${read(jobFile(second.jobId, "pid")).trim()}$`, "m"));
  });

  it("a release failing its check: back to the previous release, restarted and checked", async () => {
    await startAndWait(job(1), shell);
    const a = job(3);
    const reply = await startAndWait(a, shell);
    expect(reply).toMatchObject({ state: "done", outcome: { result: "restored", previous: rid(1) } });
    const reason = reply?.state === "done" && reply.outcome.result === "restored" ? reply.outcome.reason : "";
    expect(reason).toMatch(/^check command did not pass for release v3-000000000003 within 1s \(\d+ attempts\); last: /);
    expect(read(jobFile(a.jobId, "result"))).toBe(`restored ${rid(1)} ${reason}\n`);
    expect(currentOf(box.root)).toBe(`releases/${rid(1)}`);
    expect(restarts()).toEqual([`restart ${rid(1)}`, `restart ${rid(3)}`, `restart ${rid(1)}`]);
    expect(historyOf(box.root).map((h) => [h.action, h.release, h.previous])).toEqual([
      ["activate", rid(1), null],
      ["activate", rid(3), rid(1)],
      ["restore", rid(1), rid(3)],
    ]);
    expect(lockFree()).toBe(true);
  });

  it("a first release failing its check has nothing to go back to: broken, saying so", async () => {
    const reply = await startAndWait(job(3), shell);
    expect(reply).toMatchObject({ state: "done", outcome: { result: "broken" } });
    expect(reply?.state === "done" && "reason" in reply.outcome ? reply.outcome.reason : "").toMatch(
      /^check command did not pass for release v3-000000000003 within 1s .*; there is no prepared release to go back to$/,
    );
  });

  it("a restart that hangs is stopped at limits.restart and the job goes back within seconds", async () => {
    await startAndWait(job(1), shell);
    fs.writeFileSync(at("releases", rid(2), "HANGS"), "");
    const hanging = `${RESTART}; if [ -e current/HANGS ]; then sleep 600; fi`;
    const a = job(2, { restartCommand: hanging, limits: { ...LIMITS, restart: 1 } });
    const reply = await startAndWait(a, shell);
    expect(jobMs(a.jobId)).toBeLessThan(4_000);
    expect(reply).toMatchObject({
      state: "done",
      outcome: { result: "restored", previous: rid(1), reason: `restart did not finish within its limit of 1s (command: ${hanging})` },
    });
    expect(currentOf(box.root)).toBe(`releases/${rid(1)}`);
    expect(restarts()).toEqual([`restart ${rid(1)}`, `restart ${rid(2)}`, `restart ${rid(1)}`]);
    expect(lockFree()).toBe(true);
  });

  it("a restart that always hangs: broken, naming both timed-out restarts, still within seconds", async () => {
    await startAndWait(job(1), shell);
    const a = job(2, { restartCommand: "sleep 600", limits: { ...LIMITS, restart: 1 } });
    const reply = await startAndWait(a, shell);
    expect(jobMs(a.jobId)).toBeLessThan(5_000);
    const why = "restart did not finish within its limit of 1s (command: sleep 600)";
    expect(reply).toMatchObject({ state: "done", outcome: { result: "broken", reason: `${why}; then ${why}` } });
    expect(currentOf(box.root)).toBe(`releases/${rid(1)}`);
    expect(lockFree()).toBe(true);
  });

  it("a restart that leaves a daemon running does not keep the host locked", async () => {
    const reply = await startAndWait(job(1, { restartCommand: `${RESTART}; sleep 600 & echo $! > daemon.pid` }), shell);
    expect(reply).toMatchObject({ state: "done", outcome: { result: "ok" } });
    const daemon = Number(await untilFile(at("daemon.pid")));
    daemons.push(daemon);
    expect(() => process.kill(daemon, 0)).not.toThrow(); // still running…
    expect(lockFree()).toBe(true); // …and the lock is free
  });

  it("the job survives its launcher: its whole process group SIGKILLed right after `started`", async () => {
    await startAndWait(job(1), shell);
    const a = job(2, { restartCommand: `${RESTART}; sleep 1` });
    // detached: the launcher is a session and process group leader, like an SSH session's
    // shell; it runs the script, then stays on (the session is still open) until it is killed.
    const launcher = spawn(shell, ["-c", '"$0" -c "$1"; exec sleep 30', shell, startJob(a)], { detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const exited = new Promise((r) => launcher.on("exit", (_code, signal) => r(signal)));
    await new Promise<void>((resolve, reject) => {
      let out = "";
      launcher.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.includes(`cutover-job started ${a.jobId}`)) resolve();
      });
      launcher.on("exit", () => reject(new Error(`launcher ended before the job started: ${out}`)));
    });
    process.kill(-launcher.pid!, "SIGKILL");
    expect(await exited).toBe("SIGKILL");
    expect(fs.existsSync(jobFile(a.jobId, "result"))).toBe(false); // still mid-cycle
    expect(await attach(a.jobId, shell)).toMatchObject({ state: "done", outcome: { result: "ok" } });
    expect(read(jobFile(a.jobId, "result"))).toBe("ok\n");
    expect(currentOf(box.root)).toBe(`releases/${rid(2)}`);
    expect(lockFree()).toBe(true);
  });

  it("a second job while one holds the lock exits 75 naming the holder; the first finishes", async () => {
    const first = job(1, { restartCommand: `${RESTART}; sleep 1` });
    expect(start(first, shell).status).toBe(0);
    const holderPid = read(jobFile(first.jobId, "pid")).trim();
    const second = job(2);
    const refused = start(second, shell);
    expect(refused.status).toBe(LOCK_HELD);
    expect(refused.stdout).toBe("");
    expect(refused.stderr).toMatch(new RegExp(`^cutover\\[web1\\] lock: host web1 is being deployed by alice \\(stack prod, release ${rid(1)}, step cycle[,)]`));
    // The process holding the host is the job's own shell.
    expect(refused.stderr).toContain(`pid ${holderPid} on the host`);
    expect(refused.stderr.trim().split("\n")).toHaveLength(1);
    expect(await attach(first.jobId, shell)).toMatchObject({ state: "done", outcome: { result: "ok" } });
    // The refused one never took the lock: it changed nothing and says so.
    const never = await attach(second.jobId, shell, 1);
    expect(never?.state).toBe("never");
    expect(never && "log" in never ? never.log : "").toMatch(/lock: host web1 is being deployed by alice/);
    expect(currentOf(box.root)).toBe(`releases/${rid(1)}`);
    expect(restarts()).toEqual([`restart ${rid(1)}`]);
  });

  it("attach: running while the job runs, done after", async () => {
    const a = job(1, { restartCommand: `${RESTART}; sleep 2` });
    expect(start(a, shell).status).toBe(0);
    expect(await attach(a.jobId, shell, 1)).toEqual({ state: "running" });
    expect(await attach(a.jobId, shell)).toMatchObject({ state: "done", outcome: { result: "ok" } });
  });

  it("attach: gone when the job was killed mid-restart (and the restart never held the lock)", async () => {
    await startAndWait(job(1), shell);
    const a = job(2, { restartCommand: `${RESTART}; echo $$ > restart.pid; exec sleep 30` });
    expect(start(a, shell).status).toBe(0);
    daemons.push(Number(await untilFile(at("restart.pid"))));
    process.kill(Number(read(jobFile(a.jobId, "pid"))), "SIGKILL");
    // A killed process is "alive" to kill -0 until its parent (init) reaps it: some inits
    // take a second or two.
    let reply = await attach(a.jobId, shell, 1);
    for (const end = Date.now() + 10_000; reply?.state === "running" && Date.now() < end; ) {
      await sleep(200);
      reply = await attach(a.jobId, shell, 1);
    }
    expect(reply?.state).toBe("gone");
    expect(reply && "log" in reply ? reply.log : "").toContain(`cutover[web1] switch: current -> releases/${rid(2)} (was ${rid(1)})`);
    expect(fs.existsSync(jobFile(a.jobId, "result"))).toBe(false);
    expect(lockFree()).toBe(true);
  });

  it("startJob with attachSeconds attaches in the same command: started, then what attachJob says", async () => {
    const afterStart = (stdout: string, id: string) => {
      expect(stdout.startsWith(`cutover-job started ${id}\n`)).toBe(true);
      return parseAttach(stdout.slice(stdout.indexOf("\n") + 1));
    };
    const a = job(1);
    const r = await runAsync(startJob({ ...a, attachSeconds: 20 }), { shell });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const reply = afterStart(r.stdout, a.jobId);
    expect(reply).toMatchObject({ state: "done", outcome: { result: "ok" } });
    expect(reply && "log" in reply ? reply.log : "").toContain(`cutover[web1] switch: current -> releases/${rid(1)} (was none)`);

    const slow = job(2, { restartCommand: `${RESTART}; sleep 2` });
    const r2 = await runAsync(startJob({ ...slow, attachSeconds: 1 }), { shell });
    expect(r2.status).toBe(0);
    expect(afterStart(r2.stdout, slow.jobId)).toEqual({ state: "running" });
    expect(await attach(slow.jobId, shell)).toMatchObject({ state: "done", outcome: { result: "ok" } });
  });

  it("attach: never for a job id that was never started", async () => {
    expect(await attach("1234-switch-never", shell, 1)).toEqual({ state: "never", log: "" });
  });

  it("a switch to a release that is not prepared fails in the job, before anything changes", async () => {
    await startAndWait(job(1), shell);
    const reply = await startAndWait(job(4), shell);
    expect(reply).toMatchObject({ state: "done", outcome: { result: "failed" } });
    expect(reply?.state === "done" && "reason" in reply.outcome ? reply.outcome.reason : "").toMatch(/^cycle: release v4-000000000004 is not prepared on this host; run /);
    expect(currentOf(box.root)).toBe(`releases/${rid(1)}`);
    expect(restarts()).toEqual([`restart ${rid(1)}`]);
  });

  it("restore: back to the recorded previous release; refused when none is recorded", async () => {
    const none = await startAndWait(job(1, { kind: "restore" }), shell);
    expect(none).toMatchObject({ state: "done", outcome: { result: "failed" } });
    expect(none?.state === "done" && "reason" in none.outcome ? none.outcome.reason : "").toMatch(/^restore: no prepared previous release is recorded in /);
    await startAndWait(job(1), shell);
    await startAndWait(job(2), shell);
    expect(await startAndWait(job(2, { kind: "restore" }), shell)).toMatchObject({ state: "done", outcome: { result: "ok" } });
    expect(currentOf(box.root)).toBe(`releases/${rid(1)}`);
    expect(historyOf(box.root).at(-1)).toMatchObject({ release: rid(1), previous: rid(2), action: "restore" });
    expect(restarts()).toEqual([`restart ${rid(1)}`, `restart ${rid(2)}`, `restart ${rid(1)}`]);
  });
});

describe.each(SHELLS)("probeCycle under %s", (shell) => {
  it("unprepared, switch (from none, from another release, from a current that fails), current", async () => {
    expect(await probe(4, shell)).toEqual({ state: "unprepared" });
    expect(await probe(1, shell)).toEqual({ state: "switch", was: "none" });
    await startAndWait(job(1), shell);
    expect(await probe(1, shell)).toEqual({ state: "current" });
    expect(await probe(2, shell)).toEqual({ state: "switch", was: rid(1) });
    // The probe only reads: nothing restarted, nothing swapped.
    expect(restarts()).toEqual([`restart ${rid(1)}`]);
    expect(currentOf(box.root)).toBe(`releases/${rid(1)}`);
  });

  it("running while a job runs, with its id; not once it has ended", async () => {
    const a = job(1, { restartCommand: `${RESTART}; sleep 1` });
    expect(start(a, shell).status).toBe(0);
    expect(await probe(2, shell)).toEqual({ state: "running", jobId: a.jobId });
    await attach(a.jobId, shell);
    expect(await probe(2, shell)).toEqual({ state: "switch", was: rid(1) });
  });

  it("still says running after another start was refused by the lock", async () => {
    // Long enough that the probe below always finds it running, even on a loaded machine.
    const a = job(1, { restartCommand: `${RESTART}; sleep 6` });
    expect(start(a, shell).status).toBe(0);
    expect(start(job(1), shell).status).toBe(LOCK_HELD);
    // The refused start must not hide the job that holds the host from a later attempt's probe.
    expect(await probe(1, shell)).toEqual({ state: "running", jobId: a.jobId });
    await attach(a.jobId, shell);
  });

  it("a redeploy nonce makes a current host say switch until a switch job with it has run", async () => {
    await startAndWait(job(1), shell);
    expect(await probe(1, shell, { redeploy: "r1" })).toEqual({ state: "switch", was: rid(1) });
    const redeploy = await startAndWait(job(1, { redeploy: "r1" }), shell);
    expect(redeploy).toMatchObject({ state: "done", outcome: { result: "ok" } });
    expect(redeploy && "log" in redeploy ? redeploy.log : "").toContain(`switch: restarting ${rid(1)} in place (redeploy)`);
    expect(await probe(1, shell, { redeploy: "r1" })).toEqual({ state: "current" });
    expect(await probe(1, shell)).toEqual({ state: "current" });
    expect(await probe(1, shell, { redeploy: "r2" })).toEqual({ state: "switch", was: rid(1) });
    expect(restarts()).toEqual([`restart ${rid(1)}`, `restart ${rid(1)}`]);
    // A restart in place is not a swap: the rollback target is left alone.
    expect(fs.existsSync(at(".cutover", "previous"))).toBe(false);
  });
});

describe.each(SHELLS)("watchStable under %s", (shell) => {
  const watch = (n: number, stableSeconds: number, more: Partial<JobArgs> = {}) =>
    runAsync(watchStable({ ...cycleArgs(n, more), stableSeconds }), { shell });

  it("ok for a release that keeps passing its check", async () => {
    await startAndWait(job(1), shell);
    const r = await watch(1, 1);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^cutover-stable ok \(\d+ polls\)\n$/);
    expect(parseStable(r.stdout)).toEqual({ ok: true });
  });

  it("failed when the check starts failing during the window, without waiting for its end", async () => {
    await startAndWait(job(1), shell);
    const began = Date.now();
    const watching = watch(1, 10);
    await sleep(800);
    fs.writeFileSync(at("releases", rid(1), "BROKEN"), "");
    const r = await watching;
    expect(Date.now() - began).toBeLessThan(7_000);
    const result = parseStable(r.stdout);
    expect(result?.ok).toBe(false);
    expect(result && !result.ok ? result.reason : "").toMatch(new RegExp(`^release ${rid(1)} stopped passing its check within 10s: `));
  });

  it("failed when the service manager reports the app dead", async () => {
    await startAndWait(job(1), shell);
    const alive = 'if [ -e DEAD ]; then echo "app FATAL: Exited too quickly" >&2; exit 1; fi';
    const watching = watch(1, 5, { aliveCommand: alive });
    await sleep(600);
    fs.writeFileSync(at("DEAD"), "");
    expect(parseStable((await watching).stdout)).toEqual({
      ok: false,
      reason: `release ${rid(1)} stopped within 5s of passing its check: app FATAL: Exited too quickly alive exited with status 1 (command: ${alive})`,
    });
  });
});

// What a failed user command says. `bounded` sets $bounded_why ("check exited with status 1
// (command: …)"), but try_check and alive() call it inside $(…), a subshell, and read
// $bounded_why afterwards in the parent, where it was never set (set -u: unbound).
describe.each(SHELLS)("reasons from a failed check or alive command under %s", (shell) => {
  const exited = `check exited with status 1 (command: ${CHECK_COMMAND})`;

  it("a job that goes back names the check command and its status", async () => {
    await startAndWait(job(1), shell);
    const reply = await startAndWait(job(3), shell);
    expect(reply?.state === "done" && "reason" in reply.outcome ? reply.outcome.reason : "").toMatch(
      new RegExp(`^check command did not pass for release ${rid(3)} within 1s \\(\\d+ attempts\\); last: ${exited.replace(/[()$.]/g, "\\$&")}`),
    );
    expect(reply && "log" in reply ? reply.log : "").not.toMatch(/bounded_why/);
  });

  it("an app found dead at the deadline is reported as stopped, not as slow", async () => {
    await startAndWait(job(1), shell);
    // Alive on its first call (a start still in progress), dead on every later call while v3 is current.
    const alive = 'n=$(cat alive.count 2>/dev/null || echo 0); echo $((n + 1)) > alive.count; [ "$n" -lt 1 ] || ! grep -q v3 current/REVISION';
    const reply = await startAndWait(job(3, { aliveCommand: alive, check: { ...CHECK, deadlineSeconds: 2 } }), shell);
    expect(reply?.state === "done" && "reason" in reply.outcome ? reply.outcome.reason : "").toMatch(
      new RegExp(`^release ${rid(3)} stopped after its restart \\(\\d+ attempts\\): alive exited with status 1`),
    );
  });

  it("probe: a current host failing its check command says switch, and nothing on stderr", async () => {
    await startAndWait(job(1), shell);
    fs.writeFileSync(at("releases", rid(1), "BROKEN"), "");
    expect(await probe(1, shell)).toEqual({ state: "switch", was: rid(1) });
  });

  it("watchStable names the check command and its status", async () => {
    await startAndWait(job(1), shell);
    fs.writeFileSync(at("releases", rid(1), "BROKEN"), "");
    const r = await runAsync(watchStable({ ...cycleArgs(1), stableSeconds: 2 }), { shell });
    expect(r.stderr).toBe("");
    expect(parseStable(r.stdout)).toEqual({ ok: false, reason: `release ${rid(1)} stopped passing its check within 2s: ${exited}` });
  });

  it("watchStable with an alive command that fails without a word says so, not `bounded_why: unbound`", async () => {
    await startAndWait(job(1), shell);
    const r = await runAsync(watchStable({ ...cycleArgs(1, { aliveCommand: "exit 4" }), stableSeconds: 2 }), { shell });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(parseStable(r.stdout)).toEqual({ ok: false, reason: `release ${rid(1)} stopped within 2s of passing its check: alive exited with status 4 (command: exit 4)` });
  });
});

// host-job.ts's not-prepared message is double-quoted shell text holding `pulumi up` in
// backticks: the job runs `pulumi up` on the host as a command substitution.
it("a job for an unprepared release names `pulumi up` and runs nothing", async () => {
  const a = job(4);
  const reply = await startAndWait(a, "dash");
  expect(reply).toMatchObject({ state: "done", outcome: { result: "failed" } });
  expect(reply?.state === "done" && "reason" in reply.outcome ? reply.outcome.reason : "").toBe(
    `cycle: release ${rid(4)} is not prepared on this host; run pulumi up so its prepare step runs first`,
  );
  expect(read(jobFile(a.jobId, "log"))).not.toMatch(/not found/);
});

describe("with an HTTP check (the web role's smoke test)", () => {
  let server: http.Server;
  let body = "";
  let status = 200;
  let url = "";
  beforeEach(async () => {
    status = 200;
    server = http.createServer((_req, res) => {
      res.statusCode = status;
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/healthz`;
  });
  afterEach(() => new Promise<void>((r) => server.close(() => r())));

  it("passes once the body names the release; goes back when it keeps naming the old one", async () => {
    const check: HostCheck = { kind: "http", url, deadlineSeconds: 1 };
    body = `running ${rid(1)}`;
    expect(await startAndWait(job(1, { check }), "dash")).toMatchObject({ state: "done", outcome: { result: "ok" } });
    expect(await probe(1, "dash", { check })).toEqual({ state: "current" });
    const reply = await startAndWait(job(2, { check }), "dash");
    expect(reply).toMatchObject({ state: "done", outcome: { result: "restored", previous: rid(1) } });
    expect(reply?.state === "done" && "reason" in reply.outcome ? reply.outcome.reason : "").toMatch(
      new RegExp(`^smoke test: GET ${url.replace(/[.?]/g, "\\$&")} did not return release ${rid(2)} within 1s \\(\\d+ attempts\\); last response: HTTP 200: running ${rid(1)}$`),
    );
    status = 503;
    body = "shutting down";
    const down = await runAsync(watchStable({ ...cycleArgs(1, { check }), stableSeconds: 2 }), { shell: "dash" });
    expect(parseStable(down.stdout)).toEqual({ ok: false, reason: `release ${rid(1)} stopped passing its check within 2s: HTTP 503: shutting down` });
  });
});

describe("parsers and limits", () => {
  it("parseCycleProbe reads each state and nothing else", () => {
    expect(parseCycleProbe("noise\ncutover-probe current\n")).toEqual({ state: "current" });
    expect(parseCycleProbe("cutover-probe switch none\n")).toEqual({ state: "switch", was: "none" });
    expect(parseCycleProbe(`cutover-probe switch ${rid(1)}\n`)).toEqual({ state: "switch", was: rid(1) });
    expect(parseCycleProbe("cutover-probe running 17-switch-ab\n")).toEqual({ state: "running", jobId: "17-switch-ab" });
    expect(parseCycleProbe("cutover-probe unprepared\n")).toEqual({ state: "unprepared" });
    expect(parseCycleProbe("cutover-probe sideways\n")).toBeUndefined();
    expect(parseCycleProbe("")).toBeUndefined();
  });

  it("parseAttach: outcome and log; a restored reason keeps its spaces", () => {
    expect(parseAttach("cutover-job done ok\nlog 1\nlog 2\n")).toEqual({ state: "done", outcome: { result: "ok" }, log: "log 1\nlog 2\n" });
    expect(parseAttach(`cutover-job done restored ${rid(1)} smoke test: GET x did not return\n`)).toEqual({
      state: "done",
      outcome: { result: "restored", previous: rid(1), reason: "smoke test: GET x did not return" },
      log: "",
    });
    expect(parseAttach("cutover-job done broken a; b\n")).toEqual({ state: "done", outcome: { result: "broken", reason: "a; b" }, log: "" });
    expect(parseAttach("cutover-job done failed cycle: no\n")).toEqual({ state: "done", outcome: { result: "failed", reason: "cycle: no" }, log: "" });
    expect(parseAttach("cutover-job running")).toEqual({ state: "running" });
    expect(parseAttach("cutover-job gone\nlast words\n")).toEqual({ state: "gone", log: "last words\n" });
    expect(parseAttach("cutover-job never\n")).toEqual({ state: "never", log: "" });
    expect(parseAttach("cutover-job done maybe\n")).toBeUndefined();
    expect(parseAttach("")).toBeUndefined();
  });

  it("parseStable", () => {
    expect(parseStable("cutover-stable ok (3 polls)\n")).toEqual({ ok: true });
    expect(parseStable("cutover-stable failed it fell over\n")).toEqual({ ok: false, reason: "it fell over" });
    expect(parseStable("nothing\n")).toBeUndefined();
  });

  it("jobLimitSeconds covers both restarts and both checks with their polls", () => {
    const l = DEFAULT_CYCLE_LIMITS;
    expect(jobLimitSeconds({ kind: "none" }, l)).toBe(2 * (120 + 0 + 2 + 20) + 10);
    expect(jobLimitSeconds({ kind: "http", url: "http://x/", deadlineSeconds: 60 }, l)).toBe(2 * (120 + 60 + 2 + 20) + 10);
    expect(jobLimitSeconds({ kind: "command", command: "true", deadlineSeconds: 60 }, l)).toBe(2 * (120 + 60 + 30 + 20) + 10);
  });

  it("rejects a bad job id, check URL, limit or redeploy nonce before building anything", () => {
    expect(() => startJob(job(1, { jobId: "a b" }))).toThrow(/bad job id/);
    expect(() => attachJob({ root: "/srv/app", host: "h", jobId: "../x/y", waitSeconds: 1 })).toThrow(/bad job id/);
    expect(() => probeCycle(cycleArgs(1, { check: { kind: "http", url: "ftp://x/", deadlineSeconds: 1 } }))).toThrow(/^check\.url "ftp:\/\/x\/" is invalid/);
    expect(() => probeCycle(cycleArgs(1, { limits: { ...LIMITS, restart: 0 } }))).toThrow(/^timeouts\.restart 0 is invalid/);
    expect(() => probeCycle(cycleArgs(1, { redeploy: "a\nb" }))).toThrow(/^redeploy /);
    expect(() => watchStable({ ...cycleArgs(1), stableSeconds: -1 })).toThrow(/^stableSeconds -1 is invalid/);
  });
});

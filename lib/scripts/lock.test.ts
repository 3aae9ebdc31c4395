import { afterEach, beforeEach, describe, expect, it } from "vitest";
import fc from "fast-check";
import * as fs from "node:fs";
import * as path from "node:path";
import { LOCK_HELD_EXIT_CODE, acquireLock, breakLock, releaseLock } from "./lock";
import { quote } from "./quote";
import { SHELLS, run, runAsync, rid, sandbox, type Sandbox } from "./testing/sandbox";
import { nastyLabel, nasty } from "./testing/arbitraries";

let box: Sandbox;
beforeEach(() => {
  box = sandbox();
});
afterEach(() => box.cleanup());

const info = (root: string) =>
  Object.fromEntries(
    fs
      .readFileSync(path.join(root, ".cutover", "lock", "info"), "utf8")
      .trim()
      .split("\n")
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );

const alice = (root: string, release = rid(1)) => acquireLock({ root, owner: "alice", stack: "prod", release, host: "web3" });

describe.each(SHELLS)("lock under %s", (shell) => {
  it("takes the lock and records owner, stack, release, host, pid and time", () => {
    const r = run(alice(box.root), { shell });
    expect(r).toMatchObject({ status: 0, stderr: "" });
    expect(r.stdout).toBe(`cutover[web3] lock: acquired for alice (stack prod, release ${rid(1)})\n`);
    const i = info(box.root);
    expect(i).toMatchObject({ owner: "alice", stack: "prod", release: rid(1), host: "web3" });
    expect(i.pid).toMatch(/^\d+$/);
    expect(i.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it("a second deploy fails with the holder, the time and how to unlock", () => {
    expect(run(alice(box.root), { shell }).status).toBe(0);
    const bob = run(acquireLock({ root: box.root, owner: "bob", stack: "staging", release: rid(2), host: "web3" }), { shell });
    expect(bob.status).toBe(LOCK_HELD_EXIT_CODE);
    const lockDir = path.join(box.root, ".cutover", "lock");
    expect(bob.stderr).toBe(
      `cutover: host web3 is locked by alice (stack prod, release ${rid(1)}) since ${info(box.root).time}; ` +
        `if no deploy is running, run \`cutover unlock --stack staging\` (or rm -rf ${quote(lockDir)} on the host)\n`,
    );
    expect(info(box.root).owner).toBe("alice");
  });

  it("is re-entrant for a retry of the same deploy, not for another release of the same stack", () => {
    expect(run(alice(box.root), { shell }).status).toBe(0);
    const retry = run(alice(box.root), { shell });
    expect(retry.status).toBe(0);
    expect(retry.stdout).toContain("already held by this deploy");
    const other = run(alice(box.root, rid(2)), { shell });
    expect(other.status).toBe(LOCK_HELD_EXIT_CODE);
    expect(other.stderr).toContain(`locked by alice (stack prod, release ${rid(1)})`);
  });

  it("release removes only the holder's lock and is idempotent", () => {
    expect(run(alice(box.root), { shell }).status).toBe(0);
    const notMine = run(releaseLock({ root: box.root, owner: "bob", stack: "prod", host: "web3" }), { shell });
    expect(notMine.status).toBe(0);
    expect(notMine.stderr).toMatch(/^cutover\[web3\] unlock: warning: .* is held by alice \(stack prod, release .*\) since .*, not by bob \(stack prod\); leaving it\n$/);
    expect(fs.existsSync(path.join(box.root, ".cutover", "lock"))).toBe(true);

    const mine = run(releaseLock({ root: box.root, owner: "alice", stack: "prod", host: "web3" }), { shell });
    expect(mine).toMatchObject({ status: 0, stdout: "cutover[web3] unlock: released\n" });
    expect(fs.existsSync(path.join(box.root, ".cutover", "lock"))).toBe(false);
    const again = run(releaseLock({ root: box.root, owner: "alice", stack: "prod", host: "web3" }), { shell });
    expect(again).toMatchObject({ status: 0, stdout: "cutover[web3] unlock: not locked\n" });
  });

  it("a lock without info (taker died mid-way) is reported, and breakLock clears it", () => {
    fs.mkdirSync(path.join(box.root, ".cutover", "lock"), { recursive: true });
    const r = run(alice(box.root), { shell });
    expect(r.status).toBe(LOCK_HELD_EXIT_CODE);
    expect(r.stderr).toContain("is locked by an unknown deploy (no ");
    const broken = run(breakLock({ root: box.root, stack: "prod", host: "web3" }), { shell });
    expect(broken.status).toBe(0);
    expect(run(alice(box.root), { shell }).status).toBe(0);
  });

  it("breakLock refuses another stack's lock", () => {
    expect(run(alice(box.root), { shell }).status).toBe(0);
    const r = run(breakLock({ root: box.root, stack: "staging", host: "web3" }), { shell });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^cutover\[web3\] unlock: the lock is held by alice \(stack prod, release .*\) since .*, not by stack staging/);
    expect(run(breakLock({ root: box.root, stack: "prod", host: "web3" }), { shell }).stdout).toMatch(/removed the lock held by alice/);
  });
});

describe("lock", () => {
  it("exactly one of many concurrent deploys gets the lock", async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        runAsync(acquireLock({ root: box.root, owner: `user${i}`, stack: `s${i}`, release: rid(i + 1), host: "web1" })),
      ),
    );
    expect(results.filter((r) => r.status === 0)).toHaveLength(1);
    expect(results.filter((r) => r.status === LOCK_HELD_EXIT_CODE)).toHaveLength(7);
  });

  it("validates its arguments", () => {
    expect(() => acquireLock({ root: "rel", owner: "a", stack: "s", release: rid(1), host: "h" })).toThrow(/^root /);
    expect(() => acquireLock({ root: "/srv", owner: "a\nb", stack: "s", release: rid(1), host: "h" })).toThrow(/^owner /);
    expect(() => acquireLock({ root: "/srv", owner: "a", stack: "", release: rid(1), host: "h" })).toThrow(/^stack /);
    expect(() => acquireLock({ root: "/srv", owner: "a", stack: "s", release: "latest", host: "h" })).toThrow(/^release /);
  });

  it("property: owner, stack and host with shell syntax in them are recorded and reported verbatim", () => {
    fc.assert(
      fc.property(nastyLabel, nastyLabel, nasty, (owner, stack, host) => {
        const b = sandbox();
        try {
          const args = { root: b.root, owner, stack, release: rid(7), host };
          expect(run(acquireLock(args)).status).toBe(0);
          expect(info(b.root)).toMatchObject({ owner, stack });
          const other = run(acquireLock({ ...args, owner: `${owner}x` }));
          expect(other.status).toBe(LOCK_HELD_EXIT_CODE);
          expect(other.stderr.startsWith(`cutover: host ${host} is locked by ${owner} (stack ${stack}, release ${rid(7)}) since `)).toBe(true);
          expect(other.stderr).toContain(`run \`cutover unlock --stack ${quote(stack)}\``);
          expect(run(releaseLock(args)).status).toBe(0);
          expect(fs.existsSync(path.join(b.root, ".cutover", "lock"))).toBe(false);
          // Nothing but the deploy root was created next to it.
          expect(fs.readdirSync(b.dir)).toEqual([path.basename(b.root)]);
        } finally {
          b.cleanup();
        }
      }),
      { numRuns: 25 },
    );
  });
});

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import fc from "fast-check";
import * as fs from "node:fs";
import * as path from "node:path";
import { pruneReleases } from "./prune";
import { pruneCandidates } from "../plan";
import { SHELLS, fakeRelease, run, rid, sandbox, type Sandbox } from "./testing/sandbox";

let box: Sandbox;
beforeEach(() => {
  box = sandbox();
});
afterEach(() => box.cleanup());

const releases = () => fs.readdirSync(path.join(box.root, "releases")).sort();
const T0 = 1_700_000_000;

function setCurrent(root: string, id: string) {
  fs.symlinkSync(`releases/${id}`, path.join(root, "current"));
}
function setPrevious(root: string, id: string) {
  fs.mkdirSync(path.join(root, ".cutover"), { recursive: true });
  fs.writeFileSync(path.join(root, ".cutover", "previous"), `${id}\n`);
}

describe.each(SHELLS)("pruneReleases under %s", (shell) => {
  it("keeps N newest by activation, never current/previous, never foreign names", () => {
    // Activated in the order 1..6, then rolled back to 3 (so 3 is current, 6 previous).
    for (let i = 1; i <= 6; i++) fakeRelease(box.root, rid(i), { activatedAt: T0 + i * 10 });
    fakeRelease(box.root, rid(7), { prepared: false }); // a prepare that died
    setCurrent(box.root, rid(3));
    setPrevious(box.root, rid(6));
    const rel = path.join(box.root, "releases");
    fs.mkdirSync(path.join(rel, "backup"));
    fs.mkdirSync(path.join(rel, `x\n${rid(8)}`)); // a foreign name with an id on its second line
    fs.mkdirSync(path.join(rel, `.${rid(9)}.partial`));
    const outside = path.join(box.dir, "outside");
    fs.mkdirSync(outside);
    fs.symlinkSync(outside, path.join(rel, rid(10))); // a link named like an id

    const r = run(pruneReleases({ root: box.root, keep: 3, host: "web1" }), { shell });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    // Kept: current 3, previous 6, and the newest other prepared one, 5; the unfinished
    // unpack of 9 is a leftover and goes.
    expect(releases()).toEqual([rid(3), rid(5), rid(6), "backup", `x\n${rid(8)}`, rid(10)].sort());
    expect(fs.existsSync(outside)).toBe(true);
    expect(r.stdout).toBe(
      [
        `cutover[web1] prune: deleted ${rid(7)}`,
        `cutover[web1] prune: deleted ${rid(4)}`,
        `cutover[web1] prune: deleted ${rid(2)}`,
        `cutover[web1] prune: deleted ${rid(1)}`,
        `cutover[web1] prune: kept current ${rid(3)}, previous ${rid(6)}; deleted 4 release(s)`,
        `cutover[web1] prune: removed ${path.join(rel, `.${rid(9)}.partial`)}, left by an unfinished attempt`,
        "",
      ].join("\n"),
    );
    // Running again changes nothing.
    expect(run(pruneReleases({ root: box.root, keep: 3, host: "web1" }), { shell }).stdout).toContain("deleted 0 release(s)");
  });

  it("is a no-op before the first deploy", () => {
    const r = run(pruneReleases({ root: box.root, keep: 5, host: "web1" }), { shell });
    expect(r).toMatchObject({ status: 0, stdout: "cutover[web1] prune: no releases yet\n" });
  });

  it("a half-prepared current is kept", () => {
    fakeRelease(box.root, rid(1), { prepared: false });
    fakeRelease(box.root, rid(2), { activatedAt: T0 });
    setCurrent(box.root, rid(1));
    expect(run(pruneReleases({ root: box.root, keep: 2, host: "web1" }), { shell }).status).toBe(0);
    expect(releases()).toEqual([rid(1), rid(2)]);
  });
});

describe("pruneReleases", () => {
  it("rejects keep < 2 naming keepReleases", () => {
    expect(() => pruneReleases({ root: "/srv/app", keep: 1, host: "h" })).toThrow(/^keepReleases 1 is invalid: use a whole number ≥ 2/);
  });

  it("property: the shell script deletes exactly what plan/pruneCandidates decides", () => {
    const scenario = fc
      .record({
        count: fc.integer({ min: 0, max: 8 }),
        keep: fc.integer({ min: 2, max: 6 }),
        unprepared: fc.uniqueArray(fc.integer({ min: 1, max: 8 })),
        current: fc.option(fc.integer({ min: 1, max: 9 }), { nil: undefined }),
        previous: fc.option(fc.integer({ min: 1, max: 9 }), { nil: undefined }),
        // A permutation of activation order, as the ranks of 1..8.
        order: fc.shuffledSubarray([1, 2, 3, 4, 5, 6, 7, 8], { minLength: 8, maxLength: 8 }),
        shell: fc.constantFrom(...SHELLS),
      })
      .map((s) => ({ ...s, ids: s.order.filter((n) => n <= s.count) }));

    fc.assert(
      fc.property(scenario, (s) => {
        const b = sandbox();
        try {
          fs.mkdirSync(path.join(b.root, "releases"));
          s.ids.forEach((n, rank) => fakeRelease(b.root, rid(n), { prepared: !s.unprepared.includes(n), activatedAt: T0 + rank * 10 }));
          if (s.current !== undefined) setCurrent(b.root, rid(s.current));
          if (s.previous !== undefined) setPrevious(b.root, rid(s.previous));

          const expected = pruneCandidates({
            releases: s.ids.map(rid),
            current: s.current === undefined ? undefined : rid(s.current),
            previous: s.previous === undefined ? undefined : rid(s.previous),
            keep: s.keep,
            prepared: s.ids.filter((n) => !s.unprepared.includes(n)).map(rid),
          });
          const r = run(pruneReleases({ root: b.root, keep: s.keep, host: "h" }), { shell: s.shell });
          expect(r.stderr).toBe("");
          const deleted = [...r.stdout.matchAll(/prune: deleted (\S+)\n/g)].map((m) => m[1]);
          expect(deleted.sort()).toEqual([...expected].sort());
          expect(fs.readdirSync(path.join(b.root, "releases")).sort()).toEqual(
            s.ids.map(rid).filter((id) => !expected.includes(id)).sort(),
          );
        } finally {
          b.cleanup();
        }
      }),
      { numRuns: 40 },
    );
  });
});

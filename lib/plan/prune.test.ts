import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { pruneCandidates, validateKeepReleases } from "./prune";
import { isReleaseId } from "./release-id";

const id = (n: number) => `v${n}-${n.toString(16).padStart(12, "0")}`;
const ids = (n: number) => Array.from({ length: n }, (_, i) => id(i + 1));

describe("pruneCandidates", () => {
  it("keeps the newest N prepared releases, current and previous among them", () => {
    const releases = ids(6);
    expect(pruneCandidates({ releases, current: id(6), previous: id(5), keep: 3, prepared: releases })).toEqual(ids(3));
  });

  it("never deletes current or previous, even when they are old (after a rollback)", () => {
    const releases = ids(6);
    expect(pruneCandidates({ releases, current: id(1), previous: id(6), keep: 3, prepared: releases })).toEqual([
      id(2),
      id(3),
      id(4),
    ]);
    expect(pruneCandidates({ releases, current: id(2), previous: id(1), keep: 2, prepared: releases })).toEqual([
      id(3),
      id(4),
      id(5),
      id(6),
    ]);
  });

  it("deletes half-prepared directories that are not current/previous, and they never count as good", () => {
    const releases = ids(5);
    const prepared = new Set([id(1), id(2), id(4)]);
    expect(pruneCandidates({ releases, current: id(4), keep: 3, prepared })).toEqual([id(3), id(5)]);
    // A half-prepared previous is still never deleted.
    expect(pruneCandidates({ releases, current: id(4), previous: id(3), keep: 2, prepared })).toEqual([id(1), id(2), id(5)]);
  });

  it("ignores names that are not release ids", () => {
    const releases = ["lost+found", id(1), "backup", id(2), ".v9-000000000009.partial", id(3)];
    expect(pruneCandidates({ releases, current: id(3), keep: 2, prepared: releases })).toEqual([id(1)]);
  });

  it("ignores current/previous that are not present and handles a first deploy", () => {
    expect(pruneCandidates({ releases: [], keep: 2, prepared: [] })).toEqual([]);
    expect(pruneCandidates({ releases: ids(3), current: id(9), keep: 2, prepared: ids(3) })).toEqual([id(1)]);
  });

  it("rejects keepReleases < 2 naming the argument", () => {
    expect(() => pruneCandidates({ releases: [], keep: 1, prepared: [] })).toThrow(
      "keepReleases 1 is invalid: use a whole number ≥ 2: the current release and the previous one (the rollback target) are always kept",
    );
    for (const bad of [0, -3, 2.5, NaN, "5"]) expect(() => validateKeepReleases(bad)).toThrow(/^keepReleases /);
  });
});

describe("pruneCandidates properties", () => {
  // Names drawn from a small pool so current/previous/prepared often hit listed names; the
  // pool mixes release ids with foreign names.
  const pool = [...ids(8), "logs", "lost+found", "v1-0123", ".v2-000000000002.partial", "current"];
  const name = fc.constantFrom(...pool);
  const scenario = fc.record({
    releases: fc.uniqueArray(name, { maxLength: pool.length }),
    current: fc.option(name, { nil: undefined }),
    previous: fc.option(name, { nil: undefined }),
    keep: fc.integer({ min: 2, max: 10 }),
    prepared: fc.uniqueArray(name),
  });

  it("never deletes current, previous or a non-release-id name; only deletes listed names", () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const deleted = pruneCandidates(s);
        if (s.current) expect(deleted).not.toContain(s.current);
        if (s.previous) expect(deleted).not.toContain(s.previous);
        for (const d of deleted) {
          expect(isReleaseId(d)).toBe(true);
          expect(s.releases).toContain(d);
        }
      }),
    );
  });

  it("result count bounds: what remains is min(keep, protected ∪ prepared), half-prepared others all go", () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const deleted = new Set(pruneCandidates(s));
        const present = s.releases.filter(isReleaseId);
        const remaining = present.filter((r) => !deleted.has(r));
        const protectedNames = present.filter((r) => r === s.current || r === s.previous);
        const good = new Set([...protectedNames, ...present.filter((r) => s.prepared.includes(r))]);
        expect(remaining.length).toBe(Math.min(s.keep, good.size));
        expect(remaining.length).toBeLessThanOrEqual(s.keep);
        for (const r of remaining) expect(good.has(r)).toBe(true);
      }),
    );
  });

  it("the prepared releases kept are the newest ones", () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const deleted = new Set(pruneCandidates(s));
        const present = s.releases.filter(isReleaseId);
        const unprotectedGood = present.filter((r) => r !== s.current && r !== s.previous && s.prepared.includes(r));
        const keptFlags = unprotectedGood.map((r) => !deleted.has(r));
        // Once a kept one appears (scanning oldest → newest), every newer one is kept too.
        const firstKept = keptFlags.indexOf(true);
        if (firstKept >= 0) expect(keptFlags.slice(firstKept).every(Boolean)).toBe(true);
      }),
    );
  });

  it("is idempotent: pruning what remains deletes nothing more", () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const deleted = new Set(pruneCandidates(s));
        const after = s.releases.filter((r) => !deleted.has(r));
        expect(pruneCandidates({ ...s, releases: after })).toEqual([]);
      }),
    );
  });
});

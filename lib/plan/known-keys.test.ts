// A misspelt config key is refused with the key that exists, not ignored (its default used).
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { editDistance, nearestKey, refuseUnknownKeys, UnknownKeyError, type KeyShape } from "./known-keys";

const shape: KeyShape = {
  keys: {
    version: "any",
    keepReleases: "any",
    rollout: { keys: { batchSize: "any", checks: { each: { keys: { command: "any", deadlineSeconds: "any" } } } } },
    hosts: { each: { keys: { name: "any", roles: "any" } } },
    environment: "any",
  },
};

function refusal(value: unknown): string {
  try {
    refuseUnknownKeys(value, shape, "cutover:app");
  } catch (e) {
    expect(e).toBeInstanceOf(UnknownKeyError);
    return (e as Error).message;
  }
  throw new Error(`accepted: ${JSON.stringify(value)}`);
}

describe("refuseUnknownKeys", () => {
  it("accepts known keys at every depth, and any key where the shape says any", () => {
    const ok = { version: "1", rollout: { batchSize: 2, checks: { worker: { command: "true" }, db: "none" } }, hosts: [{ name: "web1", roles: ["web"] }], environment: { ANY_NAME: "x" } };
    expect(() => refuseUnknownKeys(ok, shape, "cutover:app")).not.toThrow();
    expect(() => refuseUnknownKeys(undefined, shape, "cutover:app")).not.toThrow();
  });

  it("names the key as written and the nearest known key, as a path inside the block", () => {
    expect(refusal({ rollout: { batchsize: 2 } })).toBe("cutover:app.rollout.batchsize: unknown key; did you mean rollout.batchSize?");
    expect(refusal({ keep_releases: 3 })).toBe("cutover:app.keep_releases: unknown key; did you mean keepReleases?");
    expect(refusal({ verison: "1" })).toBe("cutover:app.verison: unknown key; did you mean version?");
    expect(refusal({ rollout: { checks: { worker: { comand: "true" } } } })).toBe("cutover:app.rollout.checks.worker.comand: unknown key; did you mean rollout.checks.worker.command?");
    expect(refusal({ hosts: [{ name: "web1", roles: [] }, { name: "web2", role: ["web"] }] })).toBe("cutover:app.hosts[1].role: unknown key; did you mean hosts[1].roles?");
  });

  it("lists the known keys when none is close", () => {
    expect(refusal({ rollout: { canary: true } })).toBe("cutover:app.rollout.canary: unknown key; use one of batchSize, checks");
  });
});

describe("nearestKey", () => {
  it("ignores case and _ or - separators, and suggests nothing far off", () => {
    expect(nearestKey("BATCH_SIZE", ["batchSize", "smoke"])).toBe("batchSize");
    expect(nearestKey("stable-seconds", ["stableSeconds"])).toBe("stableSeconds");
    expect(nearestKey("smoek", ["smoke", "checks"])).toBe("smoke");
    expect(nearestKey("x", ["smoke", "checks"])).toBeUndefined();
    expect(nearestKey("anything", [])).toBeUndefined();
  });
});

describe("editDistance", () => {
  it("counts insertions, deletions, substitutions and swaps of neighbours", () => {
    expect(editDistance("kitten", "sitting")).toBe(3);
    expect(editDistance("smoke", "smoek")).toBe(1);
    expect(editDistance("", "abc")).toBe(3);
  });

  it("property: symmetric, zero only for equal strings, at most the longer length", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), (a, b) => {
        const d = editDistance(a, b);
        expect(editDistance(b, a)).toBe(d);
        expect(d === 0).toBe(a === b);
        expect(d).toBeLessThanOrEqual(Math.max(a.length, b.length));
      }),
    );
  });
});

import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { batchCount, planBatches, type BatchSize } from "./batches";
import { CutoverInputError } from "./validate";

const hosts = (n: number) => Array.from({ length: n }, (_, i) => `web${i + 1}`);

describe("planBatches", () => {
  it("splits by host count, order preserved", () => {
    expect(planBatches(hosts(5), 2)).toEqual([["web1", "web2"], ["web3", "web4"], ["web5"]]);
    expect(planBatches(hosts(3), 1)).toEqual([["web1"], ["web2"], ["web3"]]);
    expect(planBatches(hosts(3), 10)).toEqual([["web1", "web2", "web3"]]);
  });

  it("rounds percentages up, at least one host per batch", () => {
    expect(planBatches(hosts(10), "25%")).toEqual([hosts(10).slice(0, 3), hosts(10).slice(3, 6), hosts(10).slice(6, 9), ["web10"]]);
    expect(planBatches(hosts(3), "1%")).toEqual([["web1"], ["web2"], ["web3"]]);
    expect(planBatches(hosts(4), "100%")).toEqual([hosts(4)]);
    expect(planBatches(hosts(4), "50%")).toEqual([["web1", "web2"], ["web3", "web4"]]);
  });

  it("gives no batches for an empty fleet", () => {
    expect(planBatches([], 3)).toEqual([]);
    expect(planBatches([], "50%")).toEqual([]);
  });

  it("rejects bad sizes naming batchSize and the fix", () => {
    const fix = "use a host count ≥ 1 or a percentage between 1% and 100%";
    expect(() => planBatches(hosts(2), "0%")).toThrow(`batchSize "0%" is invalid: ${fix}`);
    expect(() => planBatches(hosts(2), 0)).toThrow(`batchSize 0 is invalid: ${fix}`);
    for (const bad of [-1, 1.5, NaN, Infinity, "101%", "-5%", "5.5%", "%", "abc", "10"] as unknown as BatchSize[]) {
      expect(() => planBatches(hosts(2), bad)).toThrow(CutoverInputError);
    }
  });

  it("rejects a host listed twice", () => {
    expect(() => planBatches(["web1", "web2", "web1"], 1)).toThrow(/hosts .* is invalid: "web1" is listed twice; list each host once/);
  });

  it("batchCount for percentages", () => {
    expect(batchCount(10, "25%")).toBe(3);
    expect(batchCount(1, "1%")).toBe(1);
    expect(batchCount(200, "1%")).toBe(2);
    expect(batchCount(7, 3)).toBe(3);
  });
});

describe("planBatches properties", () => {
  const fleet = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }), { maxLength: 60 });
  const size: fc.Arbitrary<BatchSize> = fc.oneof(
    fc.integer({ min: 1, max: 70 }),
    fc.integer({ min: 1, max: 100 }).map((p) => `${p}%` as BatchSize),
  );

  it("every host in exactly one batch, order preserved, no empty batch, each batch ≤ size", () => {
    fc.assert(
      fc.property(fleet, size, (hs, s) => {
        const batches = planBatches(hs, s);
        expect(batches.flat()).toEqual(hs);
        const limit = batchCount(hs.length, s);
        for (const b of batches) {
          expect(b.length).toBeGreaterThan(0);
          expect(b.length).toBeLessThanOrEqual(limit);
        }
        // Only the last batch may be short, so the number of batches is minimal.
        expect(batches.length).toBe(Math.ceil(hs.length / limit));
      }),
    );
  });

  it("a percentage never takes more than its share (rounded up) out of rotation", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 100 }), (n, p) => {
        const per = batchCount(n, `${p}%`);
        expect(per).toBeGreaterThanOrEqual(1);
        expect(per).toBeLessThan((n * p) / 100 + 1);
        expect(per).toBeGreaterThanOrEqual((n * p) / 100);
      }),
    );
  });
});

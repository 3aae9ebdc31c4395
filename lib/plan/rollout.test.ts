import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { describeRollout, planRollout } from "./rollout";

const hosts = [
  { name: "web1", roles: ["web"] },
  { name: "worker1", roles: ["worker"] },
  { name: "web2", roles: ["web"] },
  { name: "web3", roles: ["web", "media"] },
];

describe("planRollout", () => {
  it("cycles the load-balanced role first, in batches, then the other hosts", () => {
    expect(describeRollout(planRollout(hosts, "web", 2))).toEqual([
      "batch 1/3 (hidden from the load balancer): web1, web2",
      "batch 2/3 (hidden from the load balancer): web3",
      "batch 3/3: worker1",
    ]);
  });

  it("without a load balancer, nothing is hidden", () => {
    expect(planRollout(hosts, undefined, "50%").every((b) => !b.behindLoadBalancer)).toBe(true);
  });

  it("puts every host in exactly one batch, load-balanced hosts before the others", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9]{0,5}$/), { minLength: 1, maxLength: 12 }),
        fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
        fc.integer({ min: 1, max: 5 }),
        (names, web, size) => {
          const hs = names.map((name, i) => ({ name, roles: [web[i] ? "web" : "worker"] }));
          const batches = planRollout(hs, "web", size);
          const seen = batches.flatMap((b) => b.hosts);
          expect(seen.sort()).toEqual([...names].sort());
          const firstOther = batches.findIndex((b) => !b.behindLoadBalancer);
          if (firstOther >= 0) expect(batches.slice(firstOther).every((b) => !b.behindLoadBalancer)).toBe(true);
          batches.forEach((b, i) => expect(b.index).toBe(i + 1));
        },
      ),
    );
  });
});

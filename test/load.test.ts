// wrk's summary, as the demo, the benchmark and the rollout tests read it.
import { describe, expect, it } from "vitest";
import { parseWrk } from "../stacks/load";

const summary = (took: string, extra = "") =>
  `Running 2m test @ http://127.0.0.1:8080/\n  136142 requests in ${took}, 18.57MB read\n${extra}Requests/sec:   5207.45\n`;

describe("parseWrk", () => {
  it("counts socket errors and non-2xx responses as failed", () => {
    const r = parseWrk(summary("26.14s", "  Socket errors: connect 1, read 6, write 0, timeout 2\n  Non-2xx or 3xx responses: 4\n"));
    expect(r).toMatchObject({ requests: 136142, socketErrors: 9, non2xx: 4, failed: 13, seconds: 26.14 });
  });

  it("reads durations in ms, s and m", () => {
    expect(parseWrk(summary("812.50ms")).seconds).toBeCloseTo(0.8125);
    expect(parseWrk(summary("1.50m")).seconds).toBe(90);
  });

  it("refuses output without totals", () => {
    expect(() => parseWrk("unable to connect to 127.0.0.1:8080")).toThrow(/wrk printed no totals/);
  });
});

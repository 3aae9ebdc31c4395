// wrk's summary, as the demo, the benchmark and the rollout tests read it.
import { describe, expect, it } from "vitest";
import * as http from "node:http";
import { AddressInfo } from "node:net";
import { parseWrk, startLoad } from "../stacks/load";

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

describe("startLoad with pauseMs (wrk's Lua delay())", () => {
  it("paces each connection: a 200 ms pause holds 2 connections to a few requests a second", async () => {
    const server = http.createServer((_, res) => res.end("ok\n"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    try {
      const load = startLoad(url, { threads: 1, connections: 2, maxSeconds: 2, pauseMs: 200 });
      const r = await new Promise<ReturnType<typeof load.stop>>((resolve) => setTimeout(() => resolve(load.stop()), 2500));
      const result = await r;
      expect(result.failed).toBe(0);
      expect(result.requests).toBeGreaterThan(0);
      // At most one request per connection per 200 ms over the run, plus each one's first.
      expect(result.requests).toBeLessThanOrEqual(2 * (Math.ceil((result.seconds * 1000) / 200) + 1));
    } finally {
      server.close();
    }
  });

  it("refuses a pause that is not whole milliseconds", () => {
    expect(() => startLoad("http://127.0.0.1:1/", { pauseMs: 1.5 })).toThrow(/pauseMs 1.5 is invalid/);
  });
});

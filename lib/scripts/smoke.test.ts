import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as http from "node:http";
import * as net from "node:net";
import { smokeTest, smokeTestOrRestore, type SmokeTestArgs } from "./smoke";
import { SHELLS, currentOf, fakeRelease, runAsync, rid, sandbox } from "./testing/sandbox";

let server: http.Server;
let base = "";
let revision = rid(2);
let readyAt = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url === "/revision") {
      if (Date.now() < readyAt) {
        res.statusCode = 502;
        res.end("<html>Bad Gateway\nstarting</html>");
        return;
      }
      res.end(`${revision}\n`);
    } else if (req.url === "/error-with-id") {
      res.statusCode = 500;
      res.end(`crashed while serving ${rid(2)}`);
    } else {
      res.statusCode = 404;
      res.end("not found");
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const args = (extra: Partial<SmokeTestArgs> = {}): SmokeTestArgs => ({
  url: `${base}/revision`,
  expectBody: rid(2),
  retries: 3,
  intervalSeconds: 1,
  deadlineSeconds: 10,
  host: "web1",
  ...extra,
});

describe.each(SHELLS)("smokeTest under %s", (shell) => {
  it("passes when the body names the release", async () => {
    revision = rid(2);
    const r = await runAsync(smokeTest(args()), { shell });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(`cutover[web1] smoke test: GET ${base}/revision returned release ${rid(2)} (attempt 1)\n`);
  });

  it("retries while the app starts", async () => {
    revision = rid(2);
    readyAt = Date.now() + 1500;
    const r = await runAsync(smokeTest(args({ retries: 5 })), { shell });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/\(attempt ([2-9]|\d\d+)\)\n$/);
  });

  it("fails with the URL, release, deadline and last response", async () => {
    revision = rid(1);
    readyAt = 0;
    const r = await runAsync(smokeTest(args({ retries: 1 })), { shell });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `cutover[web1] smoke test: GET ${base}/revision did not return release ${rid(2)} within 10s (2 attempts); last response: HTTP 200: ${rid(1)}\n`,
    );
  });

  it("an error status does not pass even if the body has the id", async () => {
    const r = await runAsync(smokeTest(args({ url: `${base}/error-with-id`, retries: 0 })), { shell });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`last response: HTTP 500: crashed while serving ${rid(2)}`);
  });

  it("reports curl's error when nothing listens, and stops at the deadline", async () => {
    const started = Date.now();
    const r = await runAsync(smokeTest(args({ url: "http://127.0.0.1:9/revision", retries: 100, deadlineSeconds: 2 })), { shell });
    expect(r.status).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(r.stderr).toMatch(/did not return release .* within 2s \(\d+ attempts\); last response: curl: \(7\) Failed to connect/);
  });
});

describe("smokeTestOrRestore", () => {
  it("restores the previous release and fails when the smoke test fails", async () => {
    const box = sandbox();
    try {
      fakeRelease(box.root, rid(1));
      fakeRelease(box.root, rid(2));
      const { symlinkSync, mkdirSync, writeFileSync } = await import("node:fs");
      symlinkSync(`releases/${rid(2)}`, `${box.root}/current`);
      mkdirSync(`${box.root}/.cutover`);
      writeFileSync(`${box.root}/.cutover/previous`, `${rid(1)}\n`);
      revision = rid(1); // the new release never answers with its id
      const r = await runAsync(
        smokeTestOrRestore(args({ retries: 0 }), { root: box.root, restartCommand: "true", by: "alice" }),
      );
      expect(r.status).toBe(1);
      expect(r.stderr.split("\n")).toEqual([
        expect.stringMatching(/^cutover\[web1\] smoke test: GET .* did not return release/),
        "cutover[web1] smoke test: warning: restoring the previous release",
        "cutover[web1] smoke test: failed; the previous release is restored and the rollout stops",
        "",
      ]);
      expect(currentOf(box.root)).toBe(`releases/${rid(1)}`);

      revision = rid(1);
      const ok = await runAsync(smokeTestOrRestore(args({ expectBody: rid(1) }), { root: box.root, restartCommand: "true", by: "a" }));
      expect(ok.status).toBe(0);
    } finally {
      box.cleanup();
    }
  });
});

describe("smokeTest arguments", () => {
  it("are validated, naming each", () => {
    expect(() => smokeTest(args({ url: "ftp://x/" }))).toThrow(/^url "ftp:\/\/x\/" is invalid: use an http:\/\/ or https:\/\/ URL/);
    expect(() => smokeTest(args({ url: "-K /etc/passwd" }))).toThrow(/^url /);
    expect(() => smokeTest(args({ url: "http://x/a b" }))).toThrow(/^url /);
    expect(() => smokeTest(args({ retries: -1 }))).toThrow(/^retries -1 is invalid/);
    expect(() => smokeTest(args({ intervalSeconds: 0 }))).toThrow(/^intervalSeconds 0 is invalid/);
    expect(() => smokeTest(args({ deadlineSeconds: 1.5 }))).toThrow(/^deadlineSeconds 1.5 is invalid/);
    expect(() => smokeTest(args({ expectBody: "" }))).toThrow(/^expectBody "" is invalid/);
  });

  it("quotes a URL with shell syntax in its query", () => {
    const s = smokeTest(args({ url: "http://h/x?a=$(id)&b='`c`'" }));
    expect(s).toContain("url='http://h/x?a=$(id)&b='\\''`c`'\\'''");
  });
});

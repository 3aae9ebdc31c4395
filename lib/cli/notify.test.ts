import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as http from "node:http";
import { AddressInfo } from "node:net";
import { webhookFromConfig, webhookNotifier } from "./notify";

describe("deploy notifications to a webhook", () => {
  let server: http.Server;
  let url = "";
  const received: Array<{ path: string; body: Record<string, unknown> }> = [];
  let status = 200;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        received.push({ path: req.url ?? "", body: JSON.parse(body) });
        res.statusCode = status;
        res.end("ok");
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/T0/B0/s3cr3t-token`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const base = { project: "shop", stack: "prod", release: "42-0123456789ab", deployer: "alice" };

  it("posts Slack-compatible text plus structured fields, naming host and step on failure", async () => {
    const warnings: string[] = [];
    const n = webhookNotifier(url, (l) => warnings.push(l));
    await n.send({ ...base, event: "start", message: "fix checkout" });
    await n.send({ ...base, event: "failure", host: "web3", step: "cycle", reason: "smoke test: HTTP 500" });
    expect(warnings).toEqual([]);
    const [start, failure] = received.slice(-2).map((r) => r.body);
    expect(start).toMatchObject({ event: "start", stack: "prod", release: "42-0123456789ab", deployer: "alice" });
    expect(start.text).toContain("alice started deploying 42-0123456789ab to shop/prod — fix checkout");
    expect(failure).toMatchObject({ event: "failure", host: "web3", step: "cycle" });
    expect(failure.text).toContain("failed at host web3 (step cycle): smoke test: HTTP 500");
    expect(received.slice(-1)[0].path).toBe("/hooks/T0/B0/s3cr3t-token");
  });

  it("warns without the URL when the webhook refuses or cannot be reached, and never throws", async () => {
    const warnings: string[] = [];
    status = 500;
    await webhookNotifier(url, (l) => warnings.push(l)).send({ ...base, event: "success" });
    status = 200;
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    await webhookNotifier(`http://127.0.0.1:${port}/hooks/s3cr3t-token`, (l) => warnings.push(l)).send({ ...base, event: "success" });
    expect(warnings[0]).toMatch(/success notification was refused by the webhook: HTTP 500/);
    expect(warnings[1]).toMatch(/not delivered \(ECONNREFUSED\)/);
    for (const w of warnings) expect(w).not.toMatch(/s3cr3t|127\.0\.0\.1/);
  });

  it("reads cutover:notify.webhook from config and asks for a secret when it is plaintext", () => {
    const warnings: string[] = [];
    const secret = webhookFromConfig({ "cutover:notify": { value: JSON.stringify({ webhook: url }), secret: true } }, (l) => warnings.push(l));
    expect(secret).toBe(url);
    expect(warnings).toEqual([]);
    webhookFromConfig({ "cutover:notify": { value: JSON.stringify({ webhook: url }), secret: false } }, (l) => warnings.push(l));
    expect(warnings[0]).toMatch(/stored in plaintext; keep it as a secret: `pulumi config set --secret --path cutover:notify.webhook <url>`/);
    expect(warnings.join()).not.toContain("s3cr3t");
    expect(webhookFromConfig({}, () => undefined)).toBeUndefined();
  });
});

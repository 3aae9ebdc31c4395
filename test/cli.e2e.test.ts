// The `cutover` command on the real engine and a 4-host local fleet (127.92.0.x), run as a user
// runs it: deploy v1, v2, v3 with live progress; history; rollback and rollback --to; status;
// notifications to a webhook on loopback (and the URL nowhere in output or state); a deploy
// killed mid-rollout, unlock, and a deploy that converges; the timeline report.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { AddressInfo } from "node:net";
import { Stack } from "@pulumi/pulumi/automation";
import { repoRoot, requireEngine, stackUnderTest, StackUnderTest } from "./support/engine";
import { runProcess } from "../lib/engine/command-provider/run";
import { eventLogPath } from "../lib/runner/events";

const stackName = "clie2e";
const subnet = "127.92.0";
const hosts = ["web1", "web2", "web3", "web4"];
const appDir = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-cli-app-"));
const main = path.join(repoRoot, "dist", "lib", "cli", "main.js");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe("the cutover command", () => {
  let underTest: StackUnderTest;
  let stack: Stack;
  let webhook: http.Server;
  let webhookUrl = "";
  const notices: Array<Record<string, unknown>> = [];
  const outputs: string[] = [];
  const ids: Record<string, string> = {};

  const env = () => ({ ...process.env, ...stack.workspace.envVars });
  async function cli(...args: string[]): Promise<Run> {
    const r = await runProcess(process.execPath, [main, ...args, "--stack", stackName, "--cwd", stack.workspace.workDir], { env: env() });
    outputs.push(r.stdout, r.stderr);
    return r;
  }
  const status = async () => {
    const r = await cli("status", "--json");
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as { release: string; hosts: Array<{ host: string; current: string; serves: string; loadBalancer: string; lock: { held: boolean } }> };
  };
  const everyHostOn = async (id: string) => {
    const s = await status();
    for (const h of s.hosts) expect({ host: h.host, current: h.current, serves: h.serves, lb: h.loadBalancer, held: h.lock.held }).toEqual({ host: h.host, current: id, serves: id, lb: "UP", held: false });
  };
  const setVersion = (v: string) => fs.writeFileSync(path.join(appDir, "VERSION"), `${v}\n`);
  const deployedId = (r: Run) => r.stdout.match(/is on (\S+) \(/)?.[1] ?? "";
  const events = (since: number) => notices.slice(since).map((n) => `${n.event} ${n.release}`);

  beforeAll(async () => {
    requireEngine();
    fs.cpSync(path.join(repoRoot, "stacks", "sample-app"), appDir, { recursive: true });
    webhook = http.createServer((req, res) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        notices.push(JSON.parse(body));
        res.end("ok");
      });
    });
    await new Promise<void>((r) => webhook.listen(0, "127.0.0.1", r));
    webhookUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/services/T0/B0/${randomBytes(12).toString("hex")}`;
    underTest = await stackUnderTest(stackName, {
      "cutover:provider": "local",
      "cutover:fleet": { subnet, baseDir: "/var/lib/cutover/test-fleets", hosts: hosts.map((name) => ({ name, roles: ["web"] })), appEnvironment: { START_DELAY_MS: "500" } },
      "cutover:app": {
        source: appDir,
        version: "1",
        prepare: { linkedDirs: ["log"] },
        migration: { host: "web1", command: "node migrate.js" },
        deployer: "cli-e2e",
        // About the command: the stability window is under test in runner-faults.
        rollout: { batchSize: 2, smoke: { path: "/healthz", deadlineSeconds: 10 }, stableSeconds: 0 },
      },
    });
    stack = underTest.stack;
    await stack.setConfig("cutover:notify.webhook", { value: webhookUrl, secret: true }, true);
  }, 120_000);

  afterAll(async () => {
    await underTest?.teardown();
    await new Promise<void>((r) => (webhook ? webhook.close(() => r()) : r()));
    fs.rmSync(appDir, { recursive: true, force: true });
  }, 300_000);

  it("has --help for every subcommand and exits 2 on a usage mistake", async () => {
    for (const c of ["deploy", "history", "rollback", "status", "unlock", "report"]) {
      const r = await runProcess(process.execPath, [main, c, "--help"], {});
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^usage: cutover ${c} `));
      expect(r.stdout).toContain("--stack NAME");
    }
    const bad = await runProcess(process.execPath, [main, "rollback", "--to", "x", "--steps", "2"], {});
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("give --to or --steps, not both");
  });

  it("deploys v1, v2, v3 with live per-host progress; history lists the three with their ids", async () => {
    for (const v of ["1", "2", "3"]) {
      setVersion(v);
      const before = notices.length;
      const r = await cli("deploy", "--release", v, "--message", `version ${v}`);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      ids[v] = deployedId(r);
      expect(ids[v]).toMatch(new RegExp(`^${v}-[0-9a-f]{12}$`));
      for (const h of hosts) {
        expect(r.stdout).toMatch(new RegExp(`batch [12]  ${h}\\s+out of rotation`));
        expect(r.stdout).toMatch(new RegExp(`batch [12]  ${h}\\s+back in rotation \\(\\d+\\.\\d s out\\)`));
      }
      expect(events(before)).toEqual([`start ${ids[v]}`, `success ${ids[v]}`]);
    }
    const table = await cli("history");
    expect(table.code).toBe(0);
    const lines = table.stdout.split("\n");
    for (const v of ["1", "2", "3"]) expect(lines.find((l) => l.includes(ids[v]))).toMatch(new RegExp(`cli-e2e\\s+succeeded\\s+\\d+ s\\s+${ids[v]}\\s+version ${v}$`));
    const rows = JSON.parse((await cli("history", "--json")).stdout) as Array<{ release: string; result: string }>;
    expect(rows.map((r) => r.release)).toEqual([ids["3"], ids["2"], ids["1"]]);
    await everyHostOn(ids["3"]);
  }, 600_000);

  it("rolls back to the previous release, then --to the first; status shows every host on it", async () => {
    const before = notices.length;
    const back = await cli("rollback");
    expect(back.code, back.stdout + back.stderr).toBe(0);
    expect(back.stdout).toContain(`rolling cutover/${stackName} back to ${ids["2"]}`);
    expect(back.stdout).toContain(`rolled back: cutover/${stackName} is on ${ids["2"]}`);
    expect(back.stdout).not.toMatch(/preparing[\s\S]*uploading/);
    await everyHostOn(ids["2"]);
    expect(notices.slice(before).map((n) => [n.event, n.release, n.previousRelease])).toEqual([
      ["rollback", ids["2"], ids["3"]],
      ["success", ids["2"], ids["3"]],
    ]);
    const first = await cli("rollback", "--to", ids["1"]);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    await everyHostOn(ids["1"]);
    const table = await cli("status");
    expect(table.stdout).toMatch(new RegExp(`^web1\\s+web\\s+${ids["1"]}\\s+${ids["1"]}\\s+UP\\s+free$`, "m"));
    expect(table.stdout).toContain(`every reachable host is on the stack's release ${ids["1"]}`);
    const history = JSON.parse((await cli("history", "--json")).stdout) as Array<{ release: string; rollback: boolean }>;
    expect(history.slice(0, 2)).toMatchObject([{ release: ids["1"], rollback: true }, { release: ids["2"], rollback: true }]);
  }, 300_000);

  it("a failing deploy exits 1 naming host and step, and notifies start and failure", async () => {
    setVersion("4");
    fs.writeFileSync(path.join(appDir, "BROKEN_HEALTHZ"), "");
    const before = notices.length;
    const r = await cli("deploy", "--release", "4");
    fs.rmSync(path.join(appDir, "BROKEN_HEALTHZ"));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAILED: deploy of 4-[0-9a-f]{12} to cutover\/clie2e/);
    expect(r.stdout).toMatch(/at host web[12], step cycle/);
    expect(r.stdout).toContain("next: fix the cause on web");
    const sent = notices.slice(before);
    expect(sent.map((n) => n.event)).toEqual(["start", "failure"]);
    expect(sent[1]).toMatchObject({ step: "cycle", host: expect.stringMatching(/^web[12]$/) });
    expect(String(sent[1].reason)).toMatch(/smoke test: GET http:\/\/127\.92\.0\.1[01]:8080\/healthz did not return release 4-/);
    await everyHostOn(ids["1"]);
  }, 300_000);

  it("refuses to unlock while a deploy runs; after the deploy is killed, unlock clears it and a deploy converges", async () => {
    setVersion("5");
    // Release 5 boots in 4 s (the fleet's apps in 0.5 s), so each batch stays hidden for seconds:
    // long enough for the unlock below to see the update running and for the kill to land
    // mid-rollout, however fast the rest of the deploy is.
    fs.writeFileSync(path.join(appDir, "START_DELAY_MS"), "4000\n");
    const child = spawn(process.execPath, [main, "deploy", "--release", "5", "--stack", stackName, "--cwd", stack.workspace.workDir], { env: env(), detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stderr!.on("data", (d) => (out += d));
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on("data", (d) => {
        out += d;
        if (/out of rotation/.test(out)) resolve();
      });
      child.once("exit", () => reject(new Error(`the deploy ended before any host left rotation:\n${out}`)));
    });
    const refused = await cli("unlock");
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/not unlocking: an update of the stack is running \(\S+, pid \d+/);
    const exited = new Promise((r) => child.once("exit", r));
    process.kill(-child.pid!, "SIGKILL"); // the CLI, pulumi and its step processes: a killed CI job
    await exited;
    outputs.push(out);
    const blocked = await cli("deploy");
    expect(blocked.code).toBe(1);
    expect(blocked.stdout).toMatch(/cutover unlock --stack clie2e/);
    const unlock = await cli("unlock");
    expect(unlock.code, unlock.stdout + unlock.stderr).toBe(0);
    expect(unlock.stdout).toMatch(/removed:\n {2}stack lock \S+\.json \(taken by \S+, pid \d+, .*that process is gone\)/);
    expect(unlock.stdout).toMatch(/pending operation: (creating|updating) app-(batch[12]-)?web[1-4]-(prepare|cycle) \(command:local:Command\)/);
    console.log(`[cli] unlock after a killed deploy:\n${unlock.stdout}`);
    const again = await cli("deploy");
    expect(again.code, again.stdout + again.stderr).toBe(0);
    ids["5"] = deployedId(again);
    expect(ids["5"]).toMatch(/^5-/);
    await everyHostOn(ids["5"]);
    expect((await cli("unlock")).stdout).toContain("nothing to remove");
    fs.rmSync(path.join(appDir, "START_DELAY_MS"));
  }, 600_000);

  it("writes a self-contained HTML timeline of the last deploy: one row per host", async () => {
    const file = path.join(os.tmpdir(), `cutover-cli-report-${process.pid}.html`);
    const r = await cli("report", "--out", file);
    expect(r.code, r.stderr).toBe(0);
    const html = fs.readFileSync(file, "utf8");
    // The deploy after the kill re-ran only the cycles Pulumi had not recorded (the killed
    // one's last batch, which the runner's agent finished on its own): every host has its row,
    // each switched (a bar), unchanged (already on the release) or not touched; none failed.
    for (const h of hosts) expect(html).toMatch(new RegExp(`>${h}</text>`));
    const totals = html.match(/(\d+) switched, (\d+) unchanged, (\d+) failed/);
    expect(totals, "the hosts line of the totals").not.toBeNull();
    const [switched, unchanged, failed] = totals!.slice(1).map(Number);
    const notTouched = html.match(/>not touched</g)?.length ?? 0;
    expect({ hosts: switched + unchanged + notTouched, failed }).toEqual({ hosts: hosts.length, failed: 0 });
    expect(switched + unchanged).toBeGreaterThanOrEqual(1);
    expect(html.match(/<rect class="seg switch"/g)?.length ?? 0).toBe(switched);
    expect(html.match(/>unchanged</g)?.length ?? 0).toBe(unchanged);
    expect(html).toContain(`release ${ids["5"]}`);
    expect(html).toMatch(/class="batch"/);
    expect(html).not.toMatch(/<script|src=/);
    fs.rmSync(file);
  }, 60_000);

  it("never shows the webhook URL: not in any output, event log or state file", async () => {
    const secretPart = webhookUrl.split("/").pop()!;
    expect(notices.length).toBeGreaterThanOrEqual(12);
    for (const text of outputs) expect(text).not.toContain(secretPart);
    const files = [eventLogPath(`cutover/${stackName}/app`), eventLogPath(`cutover/${stackName}/app`).replace(/\.jsonl$/, ".engine.jsonl")];
    const state = stack.workspace.envVars.PULUMI_BACKEND_URL.replace("file://", "");
    const walk = (d: string): string[] => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]));
    files.push(...walk(state), path.join(stack.workspace.workDir, `Pulumi.${stackName}.yaml`));
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) expect(fs.readFileSync(f, "utf8"), f).not.toContain(secretPart);
  });
});

// The AWS target-group membership end to end, at the closest boundary reachable here: an ELBv2
// Query-API server on 127.0.0.1 (test/support/elbv2-server.ts, NOT AWS: no AWS emulator can be
// installed here and no AWS account is used), signed requests checked against the credentials.
//
// The route, and why: the agent runs membership only inside a host's cycle, which needs a host
// over SSH, so the agent cannot be asked to hide a target on its own. Instead:
// 1. the real agent is started exactly as `pulumi up` starts it, by the compiled
//    client.connectAgent(true) in a child process whose environment carries AWS credentials,
//    region and AWS_ENDPOINT_URL (and secrets that must not pass), with its own agent directory;
//    the test reads the running agent's environment from /proc and checks what it kept;
// 2. the compiled membership then runs in a process started with exactly that environment,
//    building its SDK client the way the agent does (default credential chain and endpoint
//    resolution, only the region from the context), and talks to the server over HTTP.
// So what is proven: the variables reach the agent, and from an environment like the agent's
// the membership's calls arrive signed (SigV4, verified with the secret) in the API's shapes.
// What is not: the agent's own job calling the membership (the cycle tests do that on HAProxy).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { agentEnvironment } from "../lib/runner/client";
import { markerKey } from "../lib/runner/membership/aws-target-group";
import { Elbv2Server, startElbv2Server } from "./support/elbv2-server";

const repoRoot = path.resolve(__dirname, "..");
const dist = path.join(repoRoot, "dist", "lib", "runner");
const region = "eu-west-1";
const web = `arn:aws:elasticloadbalancing:${region}:123456789012:targetgroup/prod-web/0123456789abcdef`;
const api = `arn:aws:elasticloadbalancing:${region}:123456789012:targetgroup/prod-api/fedcba9876543210`;
const credentials = { accessKeyId: "AKIACUTOVERE2E00001", secretAccessKey: randomBytes(30).toString("base64") };
const targets = { web1: { id: "i-0aaa", port: 8080 }, web2: { id: "i-0bbb", port: 8080 }, web3: { id: "i-0ccc", port: 8080 } };
const lbOf = (arn: string, t: Record<string, { id: string; port: number }> = targets) => ({
  kind: "aws-target-group",
  role: "web",
  region,
  targetGroupArn: arn,
  targets: t,
  drainSeconds: 10,
  upSeconds: 10,
  pollSeconds: 0.1,
});

let server: Elbv2Server;
let work: string;
let agentDir: string;
let agentPid: number | undefined;
/** The environment of the running agent, as the kernel holds it. */
let agentEnv: Record<string, string>;

function run(cmd: string, args: string[], env: Record<string, string>, cwd = "/"): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const environOf = (pid: string) =>
  Object.fromEntries(
    fs
      .readFileSync(`/proc/${pid}/environ`, "utf8")
      .split("\0")
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
  );

/** The agent process serving `dir`: its command line runs agent-main.js, its environment names the dir. */
function findAgent(dir: string): number | undefined {
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      if (!fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("agent-main.js")) continue;
      if (environOf(pid).CUTOVER_AGENT_DIR === dir) return Number(pid);
    } catch {
      // gone, or not ours to read
    }
  }
  return undefined;
}

interface Step {
  op: "rotation" | "hide" | "putBack" | "slots.servers" | "slots.move";
  host: keyof typeof targets | string;
  options?: object;
  /** The host's standby slot's port (overlap). */
  standbyPort?: number;
}
type Outcome = { op: string; host: string; ok: true; result: unknown; ms: number } | { op: string; host: string; ok: false; error: string; ms: number };

// Runs in the child: the compiled membership, one step after another, one JSON line each.
const runner = `
const { awsTargetGroupMembership } = require(process.argv[2]);
const { lb, steps } = JSON.parse(process.argv[3]);
const m = awsTargetGroupMembership(lb);
(async () => {
  for (const s of steps) {
    const h = { name: s.host, roles: ["web"], root: "/srv/app", restartCommand: "true", app: { address: "10.0.1.10", port: 8080 },
      ssh: { address: "10.0.1.10", port: 22, user: "cutover", privateKey: "", hostKey: "" },
      standby: s.standbyPort ? { port: s.standbyPort, restartCommand: "true", stopCommand: "true", server: s.host + "-b" } : undefined };
    const t = Date.now();
    try {
      const fn = s.op.split(".").reduce((o, k) => o[k], m);
      const result = await fn(h, s.options);
      console.log(JSON.stringify({ op: s.op, host: s.host, ok: true, result: result ?? null, ms: Date.now() - t }));
    } catch (e) {
      console.log(JSON.stringify({ op: s.op, host: s.host, ok: false, error: e.message, ms: Date.now() - t }));
      process.exit(3);
    }
  }
})();
`;

/** The membership in a process with the agent's environment (and its cwd, /). */
async function membership(lb: object, steps: Step[], env: Record<string, string> = agentEnv): Promise<{ code: number | null; outcomes: Outcome[]; stderr: string }> {
  const script = path.join(work, "run-membership.js");
  fs.writeFileSync(script, runner);
  const r = await run(process.execPath, [script, path.join(dist, "membership", "aws-target-group.js"), JSON.stringify({ lb, steps })], env);
  return { code: r.code, stderr: r.stderr, outcomes: r.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l) as Outcome) };
}

const ok = (o: Outcome) => {
  if (!o.ok) throw new Error(`${o.op} ${o.host} failed: ${o.error}`);
  return o.result;
};
const since = (n: number) => server.requests.slice(n);

beforeAll(async () => {
  for (const f of ["client.js", "agent-main.js", path.join("membership", "aws-target-group.js")]) {
    if (!fs.existsSync(path.join(dist, f))) throw new Error(`${path.join(dist, f)} is missing: run \`npm run build\` first (npm test does)`);
  }
  if (!fs.readFileSync(path.join(dist, "client.js"), "utf8").includes("agentEnvironment")) {
    throw new Error(`${path.join(dist, "client.js")} is older than lib/runner/client.ts: run \`npm run build\` first (npm test does)`);
  }
  server = await startElbv2Server(credentials, { healthyAfterMs: 300, deregistrationDelayMs: 300 });
  server.addTargetGroup(web);
  server.addTargetGroup(api);
  for (const t of Object.values(targets)) server.seed(web, t.id, t.port);
  server.seed(api, "i-0a01", 9000);
  server.seed(api, "i-0a02", 9000, { failing: true });
  work = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-aws-e2e-"));
  agentDir = path.join(work, "agent");
  fs.mkdirSync(agentDir, { mode: 0o700 });
});

afterAll(async () => {
  if (agentPid) {
    try {
      process.kill(agentPid, "SIGTERM");
    } catch {
      // already idled out
    }
  }
  await server?.close();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe("the agent's environment (lib/runner/client.ts)", () => {
  it("agentEnvironment keeps the basics, CUTOVER_*, AWS_* and the proxies, and nothing else", () => {
    const given = {
      PATH: "/usr/bin",
      HOME: "/home/d",
      CUTOVER_AGENT_DIR: "/run/x",
      AWS_ACCESS_KEY_ID: "AKIA1",
      AWS_SECRET_ACCESS_KEY: "s",
      AWS_SESSION_TOKEN: "t",
      AWS_REGION: "eu-west-1",
      AWS_DEFAULT_REGION: "eu-west-1",
      AWS_PROFILE: "prod",
      AWS_CONFIG_FILE: "/c",
      AWS_SHARED_CREDENTIALS_FILE: "/k",
      AWS_CA_BUNDLE: "/ca.pem",
      AWS_ENDPOINT_URL: "http://127.0.0.1:1",
      AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2: "http://127.0.0.1:2",
      AWS_ROLE_ARN: "arn:aws:iam::1:role/deploy",
      AWS_WEB_IDENTITY_TOKEN_FILE: "/token",
      NODE_EXTRA_CA_CERTS: "/ca.pem",
      HTTP_PROXY: "http://p:3128",
      HTTPS_PROXY: "http://p:3128",
      NO_PROXY: "127.0.0.1",
      http_proxy: "http://p:3128",
      https_proxy: "http://p:3128",
      no_proxy: "127.0.0.1",
    };
    const dropped = {
      GITHUB_TOKEN: "ghp_x",
      PULUMI_ACCESS_TOKEN: "pul-x",
      PULUMI_CONFIG_PASSPHRASE: "pass",
      NPM_TOKEN: "npm_x",
      SSH_AUTH_SOCK: "/tmp/ssh",
      MY_AWS_SECRET: "x",
      aws_secret_access_key: "x",
      NODE_OPTIONS: "--require /tmp/evil.js",
      ALL_PROXY: "socks5://p",
    };
    expect(agentEnvironment({ ...given, ...dropped })).toEqual(given);
  });

  it("the agent started as `pulumi up` starts it holds the AWS credentials, region, endpoint and proxies, and not the caller's other secrets", async () => {
    const callerEnv: Record<string, string> = {
      ...Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !/^AWS_|proxy$/i.test(e[0]))),
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_REGION: region,
      AWS_ENDPOINT_URL: server.url,
      // Nothing on AWS's side may be read from this machine's files or instance metadata.
      AWS_CONFIG_FILE: path.join(work, "no-aws-config"),
      AWS_SHARED_CREDENTIALS_FILE: path.join(work, "no-aws-credentials"),
      AWS_EC2_METADATA_DISABLED: "true",
      // The SDK v3 does not read these itself; the agent must still get them.
      HTTPS_PROXY: "http://proxy.invalid:3128",
      no_proxy: "127.0.0.1,localhost",
      GITHUB_TOKEN: "ghp_must_not_reach_the_agent",
      PULUMI_CONFIG_PASSPHRASE: "must not reach the agent",
      CUTOVER_AGENT_DIR: agentDir,
      CUTOVER_AGENT_IDLE_MS: "30000",
    };
    // The program's side at the start of an `up`: registerDeploy (register.ts) begins with connectAgent(true).
    const start = `require(${JSON.stringify(path.join(dist, "client.js"))}).connectAgent(true).then((s) => { s.end(); console.log("connected"); })`;
    const r = await run(process.execPath, ["-e", start], callerEnv, repoRoot);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("connected");

    agentPid = findAgent(agentDir);
    expect(agentPid, "no agent-main.js process with this CUTOVER_AGENT_DIR").toBeDefined();
    agentEnv = environOf(String(agentPid));
    expect(agentEnv).toEqual(agentEnvironment(callerEnv));
    expect(agentEnv).toMatchObject({
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_REGION: region,
      AWS_ENDPOINT_URL: server.url,
      HTTPS_PROXY: "http://proxy.invalid:3128",
      no_proxy: "127.0.0.1,localhost",
      CUTOVER_AGENT_DIR: agentDir,
    });
    expect(agentEnv.GITHUB_TOKEN).toBeUndefined();
    expect(agentEnv.PULUMI_CONFIG_PASSPHRASE).toBeUndefined();
  });
});

describe("the membership against the local ELBv2 Query-API server, from the agent's environment", () => {
  it("rotation → hide (minInRotation 2) → rotation → put back → rotation: signed calls in order, the marker tag for exactly the hidden time", async () => {
    expect(agentEnv, "the agent test above must run first").toBeDefined();
    const from = server.requests.length;
    // AWS throttles the deregistration past the SDK's own 3 attempts: the membership retries.
    server.throttle("DeregisterTargets", 4);
    const r = await membership(lbOf(web), [
      { op: "rotation", host: "web1" },
      { op: "hide", host: "web1", options: { was: "ready", minInRotation: 2, leaseSeconds: 120 } },
      { op: "rotation", host: "web1" },
      { op: "putBack", host: "web1", options: { was: "ready", checked: false } },
      { op: "rotation", host: "web1" },
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.outcomes.map(ok)).toEqual([
      { kind: "in", admin: "ready" },
      null,
      { kind: "cutover-hidden", was: "ready" },
      null,
      { kind: "in", admin: "ready" },
    ]);
    // The hide waited out the deregistration delay, the put back the initial health checks.
    expect(r.outcomes[1].ms).toBeGreaterThanOrEqual(300);
    expect(r.outcomes[3].ms).toBeGreaterThanOrEqual(300);

    const reqs = since(from);
    const label = (q: (typeof reqs)[number]) => (q.action === "DescribeTargetHealth" && !q.params["Targets.member.1.Id"] ? "DescribeTargetHealth of the group" : q.action);
    expect(reqs.map(label).filter((a, i, all) => a !== all[i - 1])).toEqual([
      "DescribeTargetHealth", // rotation: registered, so the tags are not read
      "DescribeTargetHealth of the group", // hide: minInRotation first,
      "AddTags", // then the marker,
      "DeregisterTargets", // then the deregistration (throttled 4 times, see below),
      "DescribeTargetHealth", // and draining → unused; rotation:
      "DescribeTags", // not registered, so the marker decides
      "RegisterTargets", // put back
      "DescribeTargetHealth", // initial → healthy
      "RemoveTags",
      "DescribeTargetHealth", // rotation
    ]);
    expect(reqs.filter((q) => q.action === "DeregisterTargets").map((q) => q.status)).toEqual([400, 400, 400, 400, 200]);

    const addTags = reqs.find((q) => q.action === "AddTags")!;
    expect(addTags.params).toMatchObject({ Version: "2015-12-01", "ResourceArns.member.1": web, "Tags.member.1.Key": markerKey(targets.web1) });
    expect(addTags.params["Tags.member.1.Value"]).toMatch(/^ready \d{4}-\d\d-\d\dT/);
    expect(reqs.find((q) => q.action === "DeregisterTargets")!.params).toMatchObject({
      TargetGroupArn: web,
      "Targets.member.1.Id": "i-0aaa",
      "Targets.member.1.Port": "8080",
    });
    expect(reqs.find((q) => q.action === "RemoveTags")!.params).toMatchObject({ "ResourceArns.member.1": web, "TagKeys.member.1": markerKey(targets.web1) });

    // Every call signed with the credentials from the agent's environment, for ELBv2 in the region.
    for (const q of reqs) {
      expect(q.authorization).toMatch(new RegExp(`^AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/\\d{8}/${region}/elasticloadbalancing/aws4_request, SignedHeaders=`));
      expect(q.signature).toBe("valid");
    }
    expect(server.state(web, "i-0aaa", 8080)).toBe("healthy");
    expect(server.tags(web)).toEqual({});
  });

  it("a hide left without its put back (as by a killed agent) is put back by the next run: the marker tag says whose it was", async () => {
    const first = await membership(lbOf(web), [{ op: "hide", host: "web2", options: { was: "ready", minInRotation: 1, leaseSeconds: 120 } }]);
    expect(first.outcomes.map(ok)).toEqual([null]);
    expect(server.state(web, "i-0bbb", 8080)).toBe("unused");
    expect(Object.keys(server.tags(web))).toEqual([markerKey(targets.web2)]);

    const next = await membership(lbOf(web), [
      { op: "rotation", host: "web2" },
      { op: "putBack", host: "web2", options: { was: "ready", checked: true } },
      { op: "rotation", host: "web2" },
    ]);
    expect(next.outcomes.map(ok)).toEqual([{ kind: "cutover-hidden", was: "ready" }, null, { kind: "in", admin: "ready" }]);
    expect(server.state(web, "i-0bbb", 8080)).toBe("healthy");
    expect(server.tags(web)).toEqual({});
  });

  it("a target deregistered by someone else is reported as theirs and left as found, draining or gone", async () => {
    const from = server.requests.length;
    server.deregister(web, "i-0ccc", 8080, 30_000); // the operator, from the console: draining
    const draining = await membership(lbOf(web), [{ op: "rotation", host: "web3" }]);
    server.deregister(web, "i-0ccc", 8080, 0); // and gone
    const gone = await membership(lbOf(web), [{ op: "rotation", host: "web3" }]);
    const detail = (state: string) => `web3 (target i-0ccc:8080, state ${state}) is not registered in prod-web (deregistered by someone else)`;
    expect([...draining.outcomes, ...gone.outcomes].map(ok)).toEqual([
      { kind: "operator-out", detail: detail("draining") },
      { kind: "operator-out", detail: detail("unused") },
    ]);
    expect(since(from).map((q) => q.action)).toEqual(["DescribeTargetHealth", "DescribeTags", "DescribeTargetHealth", "DescribeTags"]);
    expect(server.state(web, "i-0ccc", 8080)).toBe("unused");
  });

  it("minInRotation: a group without enough other healthy targets is waited on (bounded), then the hide fails and changes nothing", async () => {
    const from = server.requests.length;
    const lb = { ...lbOf(api, { api1: { id: "i-0a01", port: 9000 }, api2: { id: "i-0a02", port: 9000 } }), role: "web", drainSeconds: 1 };
    const r = await membership(lb, [{ op: "hide", host: "api1", options: { was: "ready", minInRotation: 1, leaseSeconds: 0 } }]);
    expect(r.code).toBe(3);
    const [o] = r.outcomes;
    expect(o.ok).toBe(false);
    expect(o.ok ? "" : o.error).toBe(
      "not hiding api1 (target i-0a01:9000 of prod-api): prod-api has 0 other healthy targets and minInRotation is 1; waited 1 s for more to turn healthy " +
        "(another deploy hiding targets, or targets failing their health checks?). Nothing was changed; run `pulumi up` again once the group is healthy",
    );
    expect(o.ms).toBeGreaterThanOrEqual(1000);
    expect(new Set(since(from).map((q) => q.action))).toEqual(new Set(["DescribeTargetHealth"]));
    expect(server.state(api, "i-0a01", 9000)).toBe("healthy");
    expect(server.tags(api)).toEqual({});
  });

  it("a target that never turns healthy: the put back fails at upSeconds with AWS's reason, and the marker stays", async () => {
    const lb = { ...lbOf(api, { api2: { id: "i-0a02", port: 9000 } }), upSeconds: 1 };
    const r = await membership(lb, [
      { op: "hide", host: "api2", options: { was: "ready", minInRotation: 0, leaseSeconds: 0 } },
      { op: "putBack", host: "api2", options: { was: "ready", checked: true } },
    ]);
    expect(r.outcomes[1]).toMatchObject({
      ok: false,
      error:
        "api2 (target i-0a02:9000 of prod-api) did not turn healthy within 1 s: last state unhealthy (Target.ResponseCodeMismatch: Health checks failed with these codes: [502])",
    });
    expect(server.state(api, "i-0a02", 9000)).toBe("unhealthy");
    expect(Object.keys(server.tags(api))).toEqual([markerKey({ id: "i-0a02", port: 9000 })]);
  });

  it("AWS's errors come back through the SDK as the API sends them: an unknown target group names the host", async () => {
    const missing = `arn:aws:elasticloadbalancing:${region}:123456789012:targetgroup/gone/1111111111111111`;
    const r = await membership(lbOf(missing), [{ op: "rotation", host: "web1" }]);
    expect(r.outcomes[0]).toMatchObject({
      ok: false,
      error: "reading the health of web1 (target i-0aaa:8080 of gone) failed: TargetGroupNotFoundException: One or more target groups not found",
    });
  });

  it("the server refuses what AWS refuses: an environment without the credentials gets no answer but an error", async () => {
    const from = server.requests.length;
    const env = { ...agentEnv, AWS_SECRET_ACCESS_KEY: "not-the-secret" };
    const r = await membership(lbOf(web), [{ op: "rotation", host: "web1" }], env);
    expect(r.outcomes[0]).toMatchObject({ ok: false });
    expect(r.outcomes[0].ok ? "" : r.outcomes[0].error).toMatch(/^reading the health of web1 .* failed: SignatureDoesNotMatch: /);
    expect(since(from).map((q) => q.signature)).toEqual(["signature does not match"]);
  });

  it("overlap: traffic moves between the two slots' targets (same instance, two ports): the new one healthy before the old one leaves", async () => {
    const from = server.requests.length;
    const b = { id: targets.web1.id, port: 8081 };
    const step = (op: Step["op"], options?: object): Step => ({ op, host: "web1", options, standbyPort: 8081 });
    const r = await membership(lbOf(web), [
      step("slots.servers"),
      step("slots.move", { to: "b", from: "a", was: "ready" }),
      step("slots.servers"),
      step("slots.move", { to: "a", from: "b", was: "ready" }),
      step("slots.servers"),
    ]);
    expect(r.code, r.stderr).toBe(0);
    const slots = (i: number) => {
      const v = ok(r.outcomes[i]) as Record<"a" | "b", { inRotation: boolean; ours: boolean }>;
      return { a: [v.a.inRotation, v.a.ours], b: [v.b.inRotation, v.b.ours] };
    };
    // At first slot b's target is not registered and carries no marker: not Cutover's (yet).
    expect(slots(0)).toEqual({ a: [true, false], b: [false, false] });
    // After the move, the idle slot's target is out with Cutover's marker: never taken for an operator's.
    expect(slots(2)).toEqual({ a: [false, true], b: [true, false] });
    expect(slots(4)).toEqual({ a: [true, false], b: [false, true] });
    const reqs = since(from);
    const move = reqs.slice(reqs.findIndex((q) => q.action === "RegisterTargets"));
    expect(move[0].params).toMatchObject({ "Targets.member.1.Id": "i-0aaa", "Targets.member.1.Port": "8081" });
    const order = move.map((q) => `${q.action}${q.params["Targets.member.1.Port"] ? ` ${q.params["Targets.member.1.Port"]}` : ""}`);
    // Registered and healthy first; only then is the old target marked idle and deregistered.
    const at = (x: string) => order.indexOf(x);
    expect(at("RegisterTargets 8081")).toBeLessThan(at("AddTags"));
    expect(at("AddTags")).toBeLessThan(at("DeregisterTargets 8080"));
    expect(order.slice(at("RegisterTargets 8081"), at("AddTags"))).toContain("DescribeTargetHealth 8081");
    expect(server.state(web, "i-0aaa", 8080)).toBe("healthy");
    expect(server.state(web, b.id, b.port)).toBe("unused");
    expect(Object.keys(server.tags(web))).toEqual([markerKey(b)]);
  });
});

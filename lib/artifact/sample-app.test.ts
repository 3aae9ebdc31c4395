import { ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { buildArtifact } from "./index";

// The sample app (stacks/sample-app, plain JS) run as the hosts run it: a child process whose
// cwd is a release dir holding REVISION. It lives here because stacks/ is compiled by tsc.
// Loopback only; the OS picks the port (PORT=0) and the app logs the one it got.

const APP = path.resolve(__dirname, "..", "..", "stacks", "sample-app");
const WAIT_MS = 5_000;

const temps: string[] = [];
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const dir of temps.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** `<root>/releases/<id>` holding a copy of the app (and REVISION unless null), plus `<root>/shared`. */
function release(id: string, revision: string | null = id): { root: string; dir: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-sample-"));
  temps.push(root);
  const dir = path.join(root, "releases", id);
  fs.cpSync(APP, dir, { recursive: true });
  fs.mkdirSync(path.join(root, "shared"));
  if (revision !== null) fs.writeFileSync(path.join(dir, "REVISION"), `${revision}\n`);
  return { root, dir };
}

interface Running {
  child: ChildProcess;
  port: number;
  stdout: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms}ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function start(cwd: string, env: Record<string, string> = {}): Promise<Running> {
  const child = spawn(process.execPath, ["server.js"], {
    cwd,
    env: { ...process.env, HOST: "127.0.0.1", PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  const port = await within(
    WAIT_MS,
    "the sample app to listen",
    new Promise<number>((resolve, reject) => {
      child.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      void exited.then(({ code }) => reject(new Error(`sample app exited ${code} before listening: ${out}${err}`)));
    }),
  );
  return { child, port, stdout: () => out, exited };
}

interface Reply {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

function get(port: number, urlPath: string, agent: http.Agent | false = false): Promise<Reply> {
  return within(
    WAIT_MS,
    `GET ${urlPath}`,
    new Promise<Reply>((resolve, reject) => {
      const req = http.get({ host: "127.0.0.1", port, path: urlPath, agent }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode!, body, headers: res.headers }));
      });
      req.on("error", reject);
    }),
  );
}

function connectRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    sock.on("connect", () => {
      sock.destroy();
      resolve(false);
    });
    sock.on("error", (e: NodeJS.ErrnoException) => resolve(e.code === "ECONNREFUSED"));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("sample app server.js", () => {
  it("answers / and /healthz with the release id from REVISION, and logs only start and stop", async () => {
    const { dir } = release("v1-0123456789ab");
    const app = await start(dir);
    expect(await get(app.port, "/")).toMatchObject({ status: 200, body: "hello from v1-0123456789ab\n" });
    expect(await get(app.port, "/healthz")).toMatchObject({ status: 200, body: "v1-0123456789ab\n" });
    expect(await get(app.port, "/nope")).toMatchObject({ status: 404 });
    app.child.kill("SIGTERM");
    expect(await within(WAIT_MS, "exit", app.exited)).toEqual({ code: 0, signal: null });
    const lines = app.stdout().trim().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^sample-app v1-0123456789ab pid=\d+: listening on http:\/\/127\.0\.0\.1:\d+ from /);
    expect(lines[0]).toContain(fs.realpathSync(dir));
    expect(lines[1]).toMatch(/stopped on SIGTERM$/);
  });

  it("says `unknown` without a REVISION file", async () => {
    const app = await start(release("x", null).dir);
    expect((await get(app.port, "/")).body).toBe("hello from unknown\n");
    expect((await get(app.port, "/healthz")).body).toBe("unknown\n");
  });

  it("fails /healthz with 500 while BROKEN_HEALTHZ exists in the app dir", async () => {
    const { dir } = release("bad-1");
    fs.writeFileSync(path.join(dir, "BROKEN_HEALTHZ"), "");
    const app = await start(dir);
    expect(await get(app.port, "/healthz")).toMatchObject({ status: 500, body: "unhealthy: BROKEN_HEALTHZ present in bad-1\n" });
    expect((await get(app.port, "/")).status).toBe(200); // the app still serves; only the check fails
    fs.rmSync(path.join(dir, "BROKEN_HEALTHZ"));
    expect((await get(app.port, "/healthz")).status).toBe(200);
  });

  it("on SIGTERM stops accepting, finishes the request in flight and exits 0", async () => {
    const app = await start(release("r1").dir);
    const slow = get(app.port, "/slow?ms=1500");
    await sleep(300); // the request is on the server by now (loopback)
    const signalledAt = Date.now();
    app.child.kill("SIGTERM");
    await sleep(100);
    expect(await connectRefused(app.port)).toBe(true);
    expect(await slow).toMatchObject({ status: 200, body: "slow 1500ms from r1\n" });
    expect(await within(WAIT_MS, "exit", app.exited)).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalledAt).toBeLessThan(WAIT_MS);
  });

  it("closes keep-alive connections instead of waiting for them to time out", async () => {
    const app = await start(release("r2").dir);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      expect((await get(app.port, "/", agent)).status).toBe(200); // leaves an idle keep-alive socket
      const slow = get(app.port, "/slow?ms=800", agent); // reuses it, in flight at the signal
      await sleep(200);
      app.child.kill("SIGINT");
      const reply = await slow;
      expect(reply.status).toBe(200);
      expect(reply.headers.connection).toBe("close");
      const started = Date.now();
      expect(await within(WAIT_MS, "exit", app.exited)).toEqual({ code: 0, signal: null });
      expect(Date.now() - started).toBeLessThan(2_000); // Node's keep-alive timeout alone is 5 s
      expect(app.stdout()).toContain("stopped on SIGINT");
    } finally {
      agent.destroy();
    }
  });

  it("waits START_DELAY_MS before listening, and a stop during the delay exits 0 at once", async () => {
    const { dir } = release("r3");
    const t0 = Date.now();
    const app = await start(dir, { START_DELAY_MS: "600" });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(600);
    app.child.kill("SIGTERM");
    await within(WAIT_MS, "exit", app.exited);

    const child = spawn(process.execPath, ["server.js"], {
      cwd: dir,
      env: { ...process.env, HOST: "127.0.0.1", PORT: "0", START_DELAY_MS: "30000" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.push(child);
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    await sleep(300); // let it install its signal handlers
    child.kill("SIGTERM");
    expect(await within(WAIT_MS, "exit during start delay", exited)).toBe(0);
  });

  it("takes the longer of START_DELAY_MS in the environment and a START_DELAY_MS file in the release", async () => {
    const { dir } = release("r5");
    fs.writeFileSync(path.join(dir, "START_DELAY_MS"), "700\n");
    const t0 = Date.now();
    const app = await start(dir, { START_DELAY_MS: "100" });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(700);
    app.child.kill("SIGTERM");
    await within(WAIT_MS, "exit", app.exited);
  });

  it("refuses a PORT that is not a number", async () => {
    const child = spawn(process.execPath, ["server.js"], { cwd: release("r4").dir, env: { ...process.env, PORT: "http" }, stdio: "pipe" });
    children.push(child);
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const code = await within(WAIT_MS, "exit", new Promise((resolve) => child.on("exit", resolve)));
    expect(code).toBe(2);
    expect(err).toContain('PORT="http" is not a port number');
  });

  it("runs from an artifact of itself unpacked by the system tar", async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-sample-art-"));
    temps.push(out);
    const art = await buildArtifact({ sourceDir: APP, versionLabel: "v1", outDir: path.join(out, "artifacts") });
    const dir = path.join(out, "releases", art.releaseId);
    fs.mkdirSync(dir, { recursive: true });
    execFileSync("tar", ["-xzf", art.path, "-C", dir]);
    fs.writeFileSync(path.join(dir, "REVISION"), `${art.releaseId}\n`);
    expect(fs.readFileSync(path.join(dir, "VERSION"), "utf8").trim()).toBe("1");
    const app = await start(dir);
    expect((await get(app.port, "/")).body).toBe(`hello from ${art.releaseId}\n`);
  });
});

describe("sample app migrate.js", () => {
  function migrate(cwd: string, env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, ["migrate.js"], {
      cwd,
      env: { ...process.env, ...env },
      encoding: "utf8",
      timeout: WAIT_MS,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  it("appends one JSON line per run to ../../shared/migrations.log, creating it", () => {
    const { root, dir } = release("v2-abcdef012345");
    const log = path.join(root, "shared", "migrations.log");
    const first = migrate(dir);
    expect(first.status).toBe(0);
    expect(first.stdout).toBe(`migrate: recorded release v2-abcdef012345 in ${fs.realpathSync(log)}\n`);
    expect(migrate(dir).status).toBe(0);
    const lines = fs.readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(line.release).toBe("v2-abcdef012345");
      expect(Math.abs(Date.parse(line.time) - Date.now())).toBeLessThan(60_000);
    }
  });

  it("writes to MIGRATIONS_LOG when set, and explains a missing shared dir", () => {
    const { root, dir } = release("v3");
    const custom = path.join(root, "custom.log");
    expect(migrate(dir, { MIGRATIONS_LOG: custom }).status).toBe(0);
    expect(JSON.parse(fs.readFileSync(custom, "utf8")).release).toBe("v3");

    fs.rmSync(path.join(root, "shared"), { recursive: true });
    const r = migrate(dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/directory .*shared does not exist; run from <root>\/releases\/<id>.*MIGRATIONS_LOG/);
  });
});

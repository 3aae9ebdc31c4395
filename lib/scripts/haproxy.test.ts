// The HAProxy scripts against a real HAProxy (the Debian package the dev fleet uses), so the
// CSV columns, the runtime API's replies and the maint/drain/ready/health semantics are
// HAProxy's own. Three small HTTP apps in this process are its servers, checked every 200 ms;
// each counts the requests it serves, so "never shows traffic" is measured, not inferred. The
// scripts keep their markers and the LB lock under $HOME, a fresh directory per test.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { hideGuarded, moveTraffic, putBackServer, readResponses, readRotation, readSlotServers, type HideArgs } from "./haproxy";
import { SHELLS, hasCommand, runAsync, sandbox, type Sandbox, type Shell } from "./testing/sandbox";

const target = { socket: "/run/haproxy/admin.sock", backend: "web", server: "web1" };
const hideArgs = (more: Partial<HideArgs> = {}): HideArgs => ({
  ...target,
  timeoutSeconds: 5,
  was: "ready",
  minInRotation: 1,
  rotationWaitSeconds: 5,
  leaseSeconds: 0,
  token: "t0k3n",
  ...more,
});

describe("haproxy scripts: arguments", () => {
  it("rejects names that could smuggle a second runtime API command, socat-unsafe sockets, bad numbers", () => {
    expect(() => readRotation({ ...target, server: "web1; shutdown sessions" })).toThrow(/^server "web1; shutdown sessions" is invalid/);
    expect(() => readRotation({ ...target, backend: "a/b" })).toThrow(/^backend "a\/b" is invalid/);
    expect(() => readRotation({ ...target, socket: "/tmp/a,b" })).toThrow(/^socket "\/tmp\/a,b" is invalid: .*socat/);
    expect(() => readRotation({ ...target, socket: "rel.sock" })).toThrow(/^socket "rel.sock" is invalid/);
    expect(() => putBackServer({ ...target, timeoutSeconds: -1, was: "ready", checked: true })).toThrow(/^timeoutSeconds -1 is invalid/);
    expect(() => putBackServer({ ...target, timeoutSeconds: 5, intervalMs: 0, was: "ready", checked: true })).toThrow(/^intervalMs 0 is invalid/);
    expect(() => hideGuarded(hideArgs({ minInRotation: -1 }))).toThrow(/^minInRotation -1 is invalid/);
    expect(() => hideGuarded(hideArgs({ leaseSeconds: 1.5 }))).toThrow(/^leaseSeconds 1.5 is invalid/);
    expect(() => hideGuarded(hideArgs({ rotationWaitSeconds: -1 }))).toThrow(/^rotationWaitSeconds -1 is invalid/);
  });

  it("quotes inputs into assignments at the top", () => {
    const s = readRotation({ ...target, host: "web 1" });
    expect(s.split("\n").slice(0, 5)).toEqual(["set -eu", "host='web 1'", "socket=/run/haproxy/admin.sock", "backend=web", "server=web1"]);
  });
});

const realHaproxy = hasCommand("haproxy") && hasCommand("socat") && hasCommand("curl") && hasCommand("flock");

interface App {
  name: string;
  weight: number;
  healthy: boolean;
  /** How long a health check waits for its answer. */
  healthDelayMs: number;
  /** Requests served other than health checks. */
  hits: number;
  held: Array<() => void>;
  server: http.Server;
  port: number;
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startApp(name: string, weight: number): Promise<App> {
  const app = { name, weight, healthy: true, healthDelayMs: 0, hits: 0, held: [] } as unknown as App;
  app.server = http.createServer((req, res) => {
    if (req.url === "/healthz") {
      const healthy = app.healthy;
      setTimeout(() => {
        res.statusCode = healthy ? 200 : 503;
        res.end(healthy ? "ok" : "down");
      }, app.healthDelayMs);
      return;
    }
    app.hits++;
    if (req.url?.startsWith("/slow")) app.held.push(() => res.end("slow done"));
    else res.end(name);
  });
  await new Promise<void>((r) => app.server.listen(0, "127.0.0.1", r));
  app.port = (app.server.address() as net.AddressInfo).port;
  return app;
}

describe.skipIf(!realHaproxy).each(SHELLS)("haproxy scripts under %s against a real HAProxy", (shell: Shell) => {
  let box: Sandbox;
  let apps: App[] = [];
  let frontPort = 0;
  let fast: App[] = [];
  let fastPort = 0;
  let pidFile = "";
  let home = "";
  let homes = 0;
  const socket = () => `${box.dir}/admin.sock`;
  const t = (server: string) => ({ socket: socket(), backend: "web", server, intervalMs: 100 });
  const app = (server: string) => apps.find((a) => a.name === server)!;
  const sh = (script: string) => runAsync(script, { shell, env: { HOME: home } });

  /** One runtime API command, from this process (no child process: the apps keep answering). */
  const api = (command: string) =>
    new Promise<string>((resolve, reject) => {
      let out = "";
      const c = net.createConnection(socket(), () => c.end(`${command}\n`));
      c.on("data", (d) => (out += d.toString()));
      c.on("end", () => resolve(out));
      c.on("error", reject);
    });

  async function stats(): Promise<Record<string, { status: string; weight: number; scur: number }>> {
    const lines = (await api("show stat")).split("\n").filter((l) => l.length > 0);
    const cols = lines[0].replace(/^# /, "").split(",");
    const col = (row: string[], name: string) => row[cols.indexOf(name)];
    const out: Record<string, { status: string; weight: number; scur: number }> = {};
    for (const line of lines.slice(1)) {
      const row = line.split(",");
      if (row[0] === "web") out[row[1]] = { status: col(row, "status"), weight: Number(col(row, "weight")), scur: Number(col(row, "scur")) };
    }
    return out;
  }

  async function until(what: string, pred: () => Promise<boolean>, ms = 10_000) {
    const end = Date.now() + ms;
    while (!(await pred())) {
      if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}; now ${JSON.stringify(await stats())}`);
      await sleep(25);
    }
  }
  const statusIs = (server: string, re: RegExp) => until(`${server} ${re}`, async () => re.test((await stats())[server].status));

  async function rotation(server: string) {
    const r = await sh(readRotation(t(server)));
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    return r.stdout;
  }

  /** Every HAProxy state and weight `server` goes through until `done` resolves (polled every 20 ms). */
  async function watchStates<T>(server: string, done: Promise<T>): Promise<{ seen: string[]; value: T }> {
    const seen: string[] = [];
    let finished = false;
    const value = done.finally(() => (finished = true));
    const sample = async () => {
      const s = (await stats())[server];
      const state = `${s.status}/${s.weight}`;
      if (seen.at(-1) !== state) seen.push(state);
    };
    while (!finished) {
      await sample();
      await sleep(20);
    }
    await sample();
    return { seen, value: await value };
  }

  /** Requests through the frontend every 10 ms until `done` resolves; returns how many were answered. */
  async function traffic<T>(done: Promise<T>, port = frontPort): Promise<{ answered: number; value: T }> {
    let finished = false;
    let answered = 0;
    const value = done.finally(() => (finished = true));
    while (!finished) {
      await new Promise<void>((resolve) => {
        http
          .get({ host: "127.0.0.1", port, path: "/", agent: false }, (res) => {
            res.resume();
            res.on("end", () => {
              if (res.statusCode === 200) answered++;
              resolve();
            });
          })
          .on("error", () => resolve());
      });
      await sleep(10);
    }
    return { answered, value: await value };
  }

  function findFile(dir: string, name: string): string | undefined {
    if (!fs.existsSync(dir)) return undefined;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        const found = findFile(p, name);
        if (found) return found;
      } else if (e.name === name) return p;
    }
    return undefined;
  }
  const guardLog = () => {
    const f = findFile(home, "guard.log");
    return f ? fs.readFileSync(f, "utf8") : "";
  };

  beforeAll(async () => {
    box = sandbox();
    apps = [await startApp("web1", 7), await startApp("web2", 5), await startApp("web3", 3)];
    frontPort = await freePort();
    fast = [await startApp("fast1", 1), await startApp("fast2", 1)];
    fastPort = await freePort();
    pidFile = path.join(box.dir, "haproxy.pid");
    const cfg = path.join(box.dir, "haproxy.cfg");
    fs.writeFileSync(
      cfg,
      [
        "global",
        `  stats socket ${socket()} mode 600 level admin`,
        `  pidfile ${pidFile}`,
        "defaults",
        "  mode http",
        "  timeout connect 2s",
        "  timeout client 30s",
        "  timeout server 30s",
        "  timeout check 1s",
        "frontend fe",
        `  bind 127.0.0.1:${frontPort}`,
        "  default_backend web",
        "backend web",
        "  option httpchk GET /healthz",
        "  default-server inter 200ms fall 2 rise 1",
        // A request held open on web1, for the drain wait.
        "  use-server web1 if { path_beg /slow }",
        ...apps.map((a) => `  server ${a.name} 127.0.0.1:${a.port} check weight ${a.weight}`),
        // fall 1: one failed check takes a server out (a configuration HAProxy accepts).
        "frontend fe_fast",
        `  bind 127.0.0.1:${fastPort}`,
        "  default_backend fast",
        "backend fast",
        "  option httpchk GET /healthz",
        "  timeout check 3s",
        "  default-server inter 500ms fall 1 rise 1",
        ...fast.map((a) => `  server ${a.name} 127.0.0.1:${a.port} check weight ${a.weight}`),
        "",
      ].join("\n"),
    );
    const r = spawnSync("haproxy", ["-f", cfg, "-D"], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`haproxy did not start: ${r.stderr}`);
  });

  afterAll(async () => {
    apps.push(...fast);
    for (const a of apps) a.held.splice(0).forEach((release) => release());
    if (pidFile && fs.existsSync(pidFile)) {
      const pid = Number(fs.readFileSync(pidFile, "utf8").trim());
      if (pid > 0) process.kill(pid, "SIGTERM");
    }
    for (const a of apps) {
      a.server.closeAllConnections();
      await new Promise<void>((r) => a.server.close(() => r()));
    }
    box.cleanup();
  });

  beforeEach(async () => {
    home = path.join(box.dir, `home-${++homes}`);
    fs.mkdirSync(home);
    for (const a of apps) {
      a.healthy = true;
      a.hits = 0;
      await api(`set server web/${a.name} state ready; set server web/${a.name} health up; set weight web/${a.name} ${a.weight}`);
    }
    await until("all UP", async () => Object.entries(await stats()).every(([name, s]) => name === "BACKEND" || s.status === "UP"));
  });

  afterEach(() => {
    for (const a of apps) a.held.splice(0).forEach((release) => release());
    // A guard still waiting finds no marker and stands down.
    fs.rmSync(home, { recursive: true, force: true });
  });

  it("readRotation: UP, MAINT set by hand (no marker), DRAIN, then hidden by Cutover (marker)", async () => {
    expect(await rotation("web1")).toBe("status=UP\nweight=7\nmarker=\n");
    await api("set server web/web1 state drain");
    expect(await rotation("web1")).toBe("status=DRAIN\nweight=7\nmarker=\n");
    await api("set server web/web1 state maint");
    expect(await rotation("web1")).toBe("status=MAINT\nweight=7\nmarker=\n");
    await api("set server web/web1 state ready");
    await statusIs("web1", /^UP$/);

    const hide = await sh(hideGuarded({ ...hideArgs(), ...t("web1") }));
    expect(hide.stderr).toBe("");
    expect(hide.stdout).toBe("cutover[web1] hide: web/web1 set to maint (2 other server(s) in rotation)\ncutover[web1] drain: web/web1 has no sessions\n");
    expect(await rotation("web1")).toBe("status=MAINT\nweight=7\nmarker=ready\n");
    const fromDrain = await sh(hideGuarded({ ...hideArgs({ was: "drain" }), ...t("web2") }));
    expect(fromDrain.status).toBe(0);
    expect(await rotation("web2")).toBe("status=MAINT\nweight=5\nmarker=drain\n");
  });

  it("hide puts a server with a request in flight in maint without cutting it, and says the drain ran out", async () => {
    const held = new Promise<string>((resolve) => {
      http.get({ host: "127.0.0.1", port: frontPort, path: "/slow", agent: false }, (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve(body));
      });
    });
    await until("a session on web1", async () => (await stats()).web1.scur === 1);
    const hide = await sh(hideGuarded({ ...hideArgs({ timeoutSeconds: 1 }), ...t("web1") }));
    expect(hide.status).toBe(0);
    expect(hide.stdout).toContain("web/web1 set to maint");
    expect(hide.stderr).toBe("cutover[web1] drain: warning: web/web1 still has 1 session(s) after 1s; carrying on (maint sends it no new request)\n");
    expect((await stats()).web1.status).toBe("MAINT");
    app("web1").held.splice(0).forEach((release) => release());
    expect(await held).toBe("slow done");
  });

  it("hide refuses below minInRotation after rotationWaitSeconds, in one line, hiding nothing", async () => {
    await api("set server web/web2 state maint"); // an operator's
    app("web3").healthy = false; // failing its checks
    await statusIs("web3", /^DOWN/);
    const began = Date.now();
    // Whole seconds on the host's clock: a wait of 2 s is more than 1 s and at most 2 s.
    const r = await sh(hideGuarded({ ...hideArgs({ minInRotation: 1, rotationWaitSeconds: 2, leaseSeconds: 1 }), ...t("web1") }));
    expect(Date.now() - began).toBeGreaterThan(1_000);
    expect(Date.now() - began).toBeLessThan(5_000);
    expect(r.stderr).toBe(
      "cutover[web1] hide: hiding web1 would leave 0 other server(s) of backend web in rotation, fewer than minInRotation 1; waited 2s for servers to come back (another deploy, or servers failing their checks); nothing was hidden\n",
    );
    expect(r.stdout).toBe("cutover[web1] hide: waiting: backend web has 0 other server(s) in rotation and minInRotation is 1\n");
    expect(r.status).toBe(1);
    expect(await rotation("web1")).toBe("status=UP\nweight=7\nmarker=\n");
    await sleep(1_500); // no guard was left to act either
    expect(guardLog()).toBe("");
    expect((await stats()).web1).toMatchObject({ status: "UP", weight: 7 });
  });

  it("hide waits for minInRotation and goes ahead when another server comes back UP during the wait", async () => {
    await api("set server web/web2 state maint");
    await api("set server web/web3 state maint");
    const hiding = sh(hideGuarded({ ...hideArgs({ minInRotation: 1, rotationWaitSeconds: 20 }), ...t("web1") }));
    await sleep(700);
    expect((await stats()).web1.status).toBe("UP"); // still waiting
    await api("set server web/web2 state ready");
    const r = await hiding;
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(
      [
        "cutover[web1] hide: waiting: backend web has 0 other server(s) in rotation and minInRotation is 1",
        "cutover[web1] hide: web/web1 set to maint (1 other server(s) in rotation)",
        "cutover[web1] drain: web/web1 has no sessions",
        "",
      ].join("\n"),
    );
    expect(await rotation("web1")).toBe("status=MAINT\nweight=7\nmarker=ready\n");
  });

  it("the default minInRotation does not count servers an operator took out or that are DOWN; a user's minInRotation does", async () => {
    await api("set server web/web2 state maint"); // an operator's
    app("web3").healthy = false; // never deployed, say: a host the fleet just gained
    await statusIs("web3", /^DOWN$/);
    // hosts − batch = 2 of the 3 servers, but only web1 was ever serving: waiting for 2 others
    // would wait out rotationWaitSeconds on every deploy of a fleet that grew.
    const user = await sh(hideGuarded({ ...hideArgs({ minInRotation: 2, rotationWaitSeconds: 0, leaseSeconds: 0 }), ...t("web1") }));
    expect(user.status).toBe(1);
    expect(user.stderr).toContain("would leave 0 other server(s) of backend web in rotation, fewer than minInRotation 2");
    expect((await stats()).web1.status).toBe("UP");
    const byDefault = await sh(
      hideGuarded({ ...hideArgs({ minInRotation: 2, minLessOperatorOut: true, rotationWaitSeconds: 0, leaseSeconds: 0 }), ...t("web1") }),
    );
    expect(byDefault.stderr).toBe("");
    expect(byDefault.status).toBe(0);
    expect(byDefault.stdout).toContain("web/web1 set to maint (0 other server(s) in rotation)");
    expect((await stats()).web1.status).toBe("MAINT");
  });

  it("the lease guard readmits a healthy server with weight 0 until a check ran, then its weight", async () => {
    const hide = await sh(hideGuarded({ ...hideArgs({ leaseSeconds: 1, token: "lease-ok" }), ...t("web1") }));
    expect(hide.status).toBe(0);
    const { seen } = await watchStates("web1", statusIs("web1", /^UP$/).then(() => until("weight back", async () => (await stats()).web1.weight === 7)));
    expect(seen[0]).toMatch(/^MAINT\//);
    // Out of maint, it carries no weight until HAProxy's own check has decided.
    for (const s of seen.filter((x) => !x.startsWith("MAINT"))) {
      if (/^UP \d/.test(s)) expect(s).toMatch(/\/0$/);
    }
    expect(seen.some((s) => s.endsWith("/0"))).toBe(true);
    expect(seen.at(-1)).toBe("UP/7");
    expect(await rotation("web1")).toBe("status=UP\nweight=7\nmarker=\n");
    expect(guardLog()).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ web\/web1 readmitted unchecked \(UP\): nobody put it back within 1s of its hide\n$/);
  });

  it("the lease guard readmits a server whose app died: it stays DOWN and is sent no request", async () => {
    const web2 = app("web2");
    const hide = await sh(hideGuarded({ ...hideArgs({ leaseSeconds: 1, token: "lease-dead" }), ...t("web2") }));
    expect(hide.status).toBe(0);
    web2.healthy = false; // the app died while hidden, and nobody came back to put it back
    web2.hits = 0;
    const { answered } = await traffic(
      watchStates("web2", until("guard done", async () => guardLog() !== "")).then(async (w) => {
        await until("weight back", async () => (await stats()).web2.weight === 5);
        return w;
      }),
    );
    expect(answered).toBeGreaterThan(20);
    expect(web2.hits).toBe(0);
    const s = (await stats()).web2;
    expect(s).toEqual({ status: "DOWN", weight: 5, scur: 0 });
    expect(guardLog()).toMatch(/ web\/web2 readmitted unchecked \(DOWN\): nobody put it back within 1s of its hide\n$/);
  });

  it("putBackServer checked: UP at once, weight restored, marker gone", async () => {
    await sh(hideGuarded({ ...hideArgs(), ...t("web1") }));
    const r = await sh(putBackServer({ ...t("web1"), timeoutSeconds: 5, was: "ready", checked: true }));
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("cutover[web1] ready: web/web1 set to ready (checked)\n");
    // Not "UP 1/2": marked healthy without waiting for a check.
    expect(await rotation("web1")).toBe("status=UP\nweight=7\nmarker=\n");
  });

  it("putBackServer unchecked against a dead app: never UP, no request sent to it, fails naming the status", async () => {
    const web2 = app("web2");
    await sh(hideGuarded({ ...hideArgs(), ...t("web2") }));
    web2.healthy = false;
    web2.hits = 0;
    const { answered, value: r } = await traffic(sh(putBackServer({ ...t("web2"), timeoutSeconds: 2, was: "ready", checked: false })));
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("cutover[web2] ready: web/web2 set to ready\n");
    expect(r.stderr).toBe('cutover[web2] ready: web/web2 is "DOWN", not UP, after 2s; the app on the host is failing its health check (or raise upSeconds)\n');
    expect(answered).toBeGreaterThan(20);
    expect(web2.hits).toBe(0);
    expect((await stats()).web2).toMatchObject({ status: "DOWN", weight: 5 });
  });

  it("putBackServer unchecked against a healthy app: UP after its check, weight restored", async () => {
    await sh(hideGuarded({ ...hideArgs(), ...t("web1") }));
    const r = await sh(putBackServer({ ...t("web1"), timeoutSeconds: 5, was: "ready", checked: false }));
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("cutover[web1] ready: web/web1 set to ready\ncutover[web1] ready: web/web1 is UP\n");
    expect(await rotation("web1")).toBe("status=UP\nweight=7\nmarker=\n");
  });

  it("putBackServer with was=drain puts it back to DRAIN, checked or not", async () => {
    for (const checked of [true, false]) {
      await sh(hideGuarded({ ...hideArgs({ was: "drain" }), ...t("web1") }));
      const r = await sh(putBackServer({ ...t("web1"), timeoutSeconds: 5, was: "drain", checked }));
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
      expect(r.stdout).toBe(`cutover[web1] ready: web/web1 set to drain${checked ? " (checked)" : ""}\n`);
      expect(await rotation("web1")).toBe("status=DRAIN\nweight=7\nmarker=\n");
      await api("set server web/web1 state ready");
    }
  });

  it("the guard stands down once the server was put back: an operator's later MAINT is left alone", async () => {
    await sh(hideGuarded({ ...hideArgs({ leaseSeconds: 1, token: "stand-down" }), ...t("web1") }));
    expect((await sh(putBackServer({ ...t("web1"), timeoutSeconds: 5, was: "ready", checked: true }))).status).toBe(0);
    await api("set server web/web1 state maint"); // an operator's, after the deploy
    await sleep(2_500); // past the lease
    expect(guardLog()).toBe("");
    expect(await rotation("web1")).toBe("status=MAINT\nweight=7\nmarker=\n");
  });

  // readmit_unchecked waits for a status other than "UP n/m" before giving the weight back.
  // With `fall 1`, leaving maint is plain "UP" at once (health = rise = rise + fall - 1), before
  // any check: the weight comes back at once and a dead app is sent requests.
  if (shell === "bash") {
    it("putBackServer unchecked with fall 1: a dead app is still sent no request before its check", async () => {
      const [dead] = fast;
      const ft = { ...t("fast1"), backend: "fast" };
      dead.healthy = true;
      dead.healthDelayMs = 0;
      await api("set server fast/fast1 state ready; set server fast/fast1 health up; set weight fast/fast1 1");
      expect((await sh(hideGuarded({ ...hideArgs({ minInRotation: 0 }), ...ft }))).status).toBe(0);
      dead.healthy = false;
      dead.healthDelayMs = 1_000; // its checks take a second to say so
      dead.hits = 0;
      const { answered, value: r } = await traffic(
        sh(putBackServer({ ...ft, timeoutSeconds: 3, was: "ready", checked: false })),
        fastPort,
      );
      expect(answered).toBeGreaterThan(20);
      expect({ hits: dead.hits, stdout: r.stdout }).toEqual({ hits: 0, stdout: "cutover[fast1] ready: fast/fast1 set to ready\n" });
      expect(r.stderr).toMatch(/^cutover\[fast1\] ready: fast\/fast1 is "DOWN", not UP, after 3s/);
    });
  }

  it("says which server is unknown, what HAProxy refused, and how to reach an unreachable socket", async () => {
    const missing = await sh(readRotation(t("web9")));
    expect(missing.status).toBe(1);
    expect(missing.stderr).toBe('cutover[web9] state: web/web9 is not in HAProxy\'s "show stat"; check the backend and server names in haproxy.cfg\n');
    const hide = await sh(hideGuarded({ ...hideArgs(), ...t("web9") }));
    expect(hide.status).toBe(1);
    expect(hide.stderr).toMatch(/^cutover\[web9\] hide: web\/web9 is not in HAProxy's "show stat"/);
    const refused = await sh(putBackServer({ ...t("web9"), timeoutSeconds: 1, was: "ready", checked: true }));
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/^cutover\[web9\] ready: HAProxy refused ".*set server web\/web9 state ready.*": No such server\./);
    const away = await sh(readRotation({ ...t("web1"), socket: `${box.dir}/nope.sock` }));
    expect(away.status).toBe(1);
    // socat says why first; the last line is Cutover's.
    expect(away.stderr.endsWith(`\ncutover[web1] state: cannot reach the HAProxy runtime API at ${box.dir}/nope.sock; is haproxy running?\n`)).toBe(true);
  });

  it("overlap: moves a host's traffic from one slot's server to the other, then only the new one is sent requests, and says which is idle", async () => {
    // backend fast: fast1 is the host's slot a (serving), fast2 its slot b (idle, in maint).
    const slotsOf = { socket: socket(), backend: "fast", server: "fast1", standby: "fast2" };
    const read = async () => {
      const r = await sh(readSlotServers(slotsOf));
      expect(r.stderr).toBe("");
      return r.stdout.trim().split("\n");
    };
    // Whatever earlier tests left: fast1 serving and healthy, fast2 idle.
    for (const a of fast) a.healthy = true;
    await api("set server fast/fast1 state ready; set server fast/fast1 health up; set server fast/fast2 state maint");
    await until("fast1 UP, fast2 MAINT", async () => (await read()).join() === "fast1 status=UP marker=none,fast2 status=MAINT marker=none");
    const before = fast.map((a) => a.hits);
    const moved = await traffic(
      sh(moveTraffic({ socket: socket(), backend: "fast", to: "fast2", from: "fast1", was: "ready", timeoutSeconds: 5, intervalMs: 25 })),
      fastPort,
    );
    expect(moved.value.stderr).toBe("");
    expect(moved.value.status).toBe(0);
    expect(await read()).toEqual(["fast1 status=MAINT marker=idle", "fast2 status=UP marker=none"]);
    // Requests kept being answered all along, and now go to fast2 only.
    const afterMove = fast.map((a) => a.hits);
    await traffic(sleep(300), fastPort);
    expect(fast[0].hits).toBe(afterMove[0]);
    expect(fast[1].hits).toBeGreaterThan(afterMove[1]);
    expect(afterMove[1]).toBeGreaterThanOrEqual(before[1]);
    const counted = await sh(readResponses({ socket: socket(), backend: "fast", server: "fast2" }));
    expect(counted.stdout).toMatch(/^cutover-responses [1-9]\d* 0$/m);
    await api("set server fast/fast1 state ready; set server fast/fast2 state ready");
  });
});

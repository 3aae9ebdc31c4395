import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { drainServer, hideServer, readyServer, serverState, unhideServer, waitNoSessions, waitUp } from "./haproxy";
import { SHELLS, hasCommand, run, runAsync, sandbox, type Sandbox } from "./testing/sandbox";

const target = { socket: "/run/haproxy/admin.sock", backend: "web", server: "web1" };

describe("haproxy scripts: arguments", () => {
  it("rejects names that could smuggle a second runtime API command, and socat-unsafe sockets", () => {
    expect(() => drainServer({ ...target, server: "web1; shutdown sessions" })).toThrow(/^server "web1; shutdown sessions" is invalid/);
    expect(() => drainServer({ ...target, backend: "a/b" })).toThrow(/^backend "a\/b" is invalid/);
    expect(() => drainServer({ ...target, socket: "/tmp/a,b" })).toThrow(/^socket "\/tmp\/a,b" is invalid: .*socat/);
    expect(() => drainServer({ ...target, socket: "rel.sock" })).toThrow(/^socket "rel.sock" is invalid/);
    expect(() => waitUp({ ...target, timeoutSeconds: -1 })).toThrow(/^timeoutSeconds -1 is invalid/);
    expect(() => waitUp({ ...target, timeoutSeconds: 5, intervalMs: 0 })).toThrow(/^intervalMs 0 is invalid/);
  });

  it("quotes inputs into assignments and keeps the body constant", () => {
    const s = drainServer({ ...target, host: "web 1" });
    expect(s.split("\n").slice(0, 5)).toEqual(["set -eu", "host='web 1'", "socket=/run/haproxy/admin.sock", "backend=web", "server=web1"]);
    expect(s).toContain('hap() { printf \'%s\\n\' "$1" | socat stdio "unix-connect:$socket"; }');
    expect(s.trim().split("\n").slice(-2)).toEqual(["set_state drain drain", 'say drain "$backend/$server set to drain"']);
  });
});

/**
 * A stand-in for `socat` that plays HAProxy's runtime API from files: `show stat` prints
 * CSV with the current scur/status (scur drops by one per poll, like sessions finishing),
 * `set server` records the state. It also records its arguments.
 */
function fakeSocat(dir: string): Record<string, string> {
  const bin = path.join(dir, "bin");
  fs.mkdirSync(bin);
  fs.writeFileSync(
    path.join(bin, "socat"),
    [
      "#!/bin/sh",
      'd=$FAKE_HAPROXY',
      'printf "%s\\n" "$*" >> "$d/args"',
      "read -r cmd",
      'case $cmd in',
      '  "show stat")',
      '    scur=$(cat "$d/scur"); [ "$scur" -gt 0 ] && echo $((scur - 1)) > "$d/scur"',
      "    echo '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight'",
      "    echo 'web,FRONTEND,,,0,1,,,,,,,,,,,,OPEN,'",
      '    printf "web,web1,0,0,%s,3,,,,,,,,,,,,%s,1\\n" "$scur" "$(cat "$d/status")"',
      "    echo 'web,BACKEND,0,0,0,3,,,,,,,,,,,,UP,1'",
      "    echo ;;",
      '  "set server web/web1 state "*)',
      '    s=${cmd##* }; echo "$s" >> "$d/calls"',
      '    case $s in ready) cat "$d/after-ready" > "$d/status" ;; drain) echo DRAIN > "$d/status" ;; maint) echo MAINT > "$d/status" ;; esac',
      "    echo ;;",
      "  *) echo 'No such server.'; echo ;;",
      "esac",
    ].join("\n") + "\n",
    { mode: 0o755 },
  );
  return { PATH: `${bin}:${process.env.PATH}`, FAKE_HAPROXY: dir };
}

describe.each(SHELLS)("haproxy scripts under %s (fake runtime API)", (shell) => {
  let box: Sandbox;
  let env: Record<string, string>;
  const f = (name: string) => path.join(box.dir, name);
  const sock = () => ({ ...target, socket: `${box.dir}/admin.sock` });
  beforeEach(() => {
    box = sandbox();
    env = fakeSocat(box.dir);
    fs.writeFileSync(f("scur"), "0\n");
    fs.writeFileSync(f("status"), "UP\n");
    fs.writeFileSync(f("after-ready"), "UP\n");
  });
  afterEach(() => box.cleanup());

  it("hide: sets maint, then waits until scur is 0", () => {
    fs.writeFileSync(f("scur"), "2\n");
    const r = run(hideServer({ ...sock(), timeoutSeconds: 60 }), { shell, env });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("cutover[web1] drain: web/web1 set to maint\ncutover[web1] drain: web/web1 has no sessions\n");
    expect(fs.readFileSync(f("calls"), "utf8")).toBe("maint\n");
    expect(fs.readFileSync(f("args"), "utf8").split("\n")[0]).toBe(`stdio unix-connect:${box.dir}/admin.sock`);
  });

  it("waitNoSessions: at the deadline puts the server in maint, warns and carries on", () => {
    fs.writeFileSync(f("scur"), "1000\n");
    const r = run(waitNoSessions({ ...sock(), timeoutSeconds: 0 }), { shell, env });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe("cutover[web1] drain: warning: web/web1 still has 1000 session(s) after 0s; setting it to maint and continuing\n");
    expect(fs.readFileSync(f("calls"), "utf8")).toBe("maint\n");
  });

  it("unhide: ready, then waits for UP (or 'no check')", () => {
    fs.writeFileSync(f("after-ready"), "no check\n");
    const r = run(unhideServer({ ...sock(), timeoutSeconds: 5 }), { shell, env });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("cutover[web1] ready: web/web1 set to ready\ncutover[web1] ready: web/web1 is no check\n");
  });

  it("waitUp fails at the deadline naming the status", () => {
    fs.writeFileSync(f("status"), "DOWN\n");
    const r = run(waitUp({ ...sock(), timeoutSeconds: 0 }), { shell, env });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      'cutover[web1] ready: web/web1 is "DOWN", not UP, after 0s; the app on the host is failing its health check (or raise timeoutSeconds)\n',
    );
  });

  it("reports an unknown server and a refused command", () => {
    const missing = run(serverState({ ...sock(), server: "web9" }), { shell, env });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toBe(
      'cutover[web9] state: web/web9 is not in HAProxy\'s "show stat"; check the backend and server names in haproxy.cfg\n',
    );
    const refused = run(drainServer({ ...sock(), server: "web9" }), { shell, env });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toBe('cutover[web9] drain: HAProxy refused "set server web/web9 state drain": No such server.\n');
  });

  it("serverState prints the status column", () => {
    expect(run(serverState(sock()), { shell, env }).stdout).toBe("UP\n");
    expect(run(readyServer(sock()), { shell, env }).status).toBe(0);
  });

  it("says how to fix an unreachable socket", () => {
    const r = run(drainServer(sock()), { shell, env: { PATH: process.env.PATH ?? "" } });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`cutover[web1] drain: cannot reach the HAProxy runtime API at ${box.dir}/admin.sock`);
  });
});

// Timeouts are generous: they only bound a failure, and a busy machine must not turn a
// drain that would finish into a "maint" warning.
// The same scripts against a real HAProxy (the Debian package the dev fleet uses), so the
// CSV columns, the replies and the drain/maint/ready semantics are HAProxy's own.
const realHaproxy = hasCommand("haproxy") && hasCommand("socat") && hasCommand("curl");
describe.skipIf(!realHaproxy)("haproxy scripts against a real HAProxy", () => {
  let box: Sandbox;
  let app: http.Server;
  let frontPort = 0;
  let pidFile = "";
  let healthy = true;
  let releaseSlow: () => void = () => {};
  const sockTarget = () => ({ socket: `${box.dir}/admin.sock`, backend: "web", server: "web1", intervalMs: 100 });

  const freePort = () =>
    new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, "127.0.0.1", () => {
        const port = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(port));
      });
    });

  beforeAll(async () => {
    box = sandbox();
    app = http.createServer((req, res) => {
      if (req.url === "/healthz") {
        res.statusCode = healthy ? 200 : 503;
        res.end("ok");
      } else if (req.url === "/slow") {
        releaseSlow = () => res.end("slow done");
      } else res.end("hello");
    });
    await new Promise<void>((r) => app.listen(0, "127.0.0.1", r));
    const appPort = (app.address() as net.AddressInfo).port;
    frontPort = await freePort();
    pidFile = path.join(box.dir, "haproxy.pid");
    const cfg = path.join(box.dir, "haproxy.cfg");
    fs.writeFileSync(
      cfg,
      [
        "global",
        `  stats socket ${box.dir}/admin.sock mode 600 level admin`,
        `  pidfile ${pidFile}`,
        "defaults",
        "  mode http",
        "  timeout connect 2s",
        "  timeout client 30s",
        "  timeout server 30s",
        "frontend fe",
        `  bind 127.0.0.1:${frontPort}`,
        "  default_backend web",
        "backend web",
        "  option httpchk GET /healthz",
        "  default-server inter 200ms fall 2 rise 1",
        `  server web1 127.0.0.1:${appPort} check`,
        "",
      ].join("\n"),
    );
    const r = spawnSync("haproxy", ["-f", cfg, "-D"], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`haproxy did not start: ${r.stderr}`);
    // Wait for the first health check.
    const up = await runAsync(waitUp({ ...sockTarget(), timeoutSeconds: 30 }));
    if (up.status !== 0) throw new Error(up.stderr);
  });

  afterAll(async () => {
    releaseSlow();
    if (pidFile && fs.existsSync(pidFile)) {
      const pid = Number(fs.readFileSync(pidFile, "utf8").trim());
      if (pid > 0) process.kill(pid, "SIGTERM");
    }
    await new Promise<void>((r) => app.close(() => r()));
    box.cleanup();
  });

  it("hide puts a server with an open request in maint without cutting the request; unhide brings it back UP", async () => {
    // One request held open through HAProxy: the server has a session.
    const held = new Promise<string>((resolve) => {
      // agent: false, so no idle keep-alive connection outlives the request.
      http.get({ host: "127.0.0.1", port: frontPort, path: "/slow", agent: false }, (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve(body));
      });
    });
    await new Promise((r) => setTimeout(r, 300));

    const hide = await runAsync(hideServer({ ...sockTarget(), timeoutSeconds: 1 }));
    expect(hide.status).toBe(0);
    expect(hide.stdout).toContain("web/web1 set to maint");
    expect(hide.stderr).toMatch(/warning: web\/web1 still has 1 session\(s\) after 1s; setting it to maint and continuing/);
    expect((await runAsync(serverState(sockTarget()))).stdout).toBe("MAINT\n");

    releaseSlow();
    expect(await held).toBe("slow done");
    const drained = await runAsync(waitNoSessions({ ...sockTarget(), timeoutSeconds: 30 }));
    expect(drained.stdout).toContain("web/web1 has no sessions");

    const unhide = await runAsync(unhideServer({ ...sockTarget(), timeoutSeconds: 30 }));
    expect(unhide.stderr).toBe("");
    expect(unhide.stdout).toContain("web/web1 is UP");
  });

  it("hide without sessions finishes at once, and state reads MAINT", async () => {
    const hide = await runAsync(hideServer({ ...sockTarget(), timeoutSeconds: 30 }));
    expect(hide.stderr).toBe("");
    expect(hide.stdout).toContain("has no sessions");
    expect((await runAsync(serverState(sockTarget()))).stdout).toBe("MAINT\n");
    expect((await runAsync(unhideServer({ ...sockTarget(), timeoutSeconds: 30 }))).status).toBe(0);
  });

  it("unhide fails naming the status when the app fails its health check", async () => {
    healthy = false;
    try {
      await runAsync(drainServer(sockTarget()));
      await new Promise((r) => setTimeout(r, 800)); // two failed checks: DOWN
      const r = await runAsync(unhideServer({ ...sockTarget(), timeoutSeconds: 2 }));
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^cutover\[web1\] ready: web\/web1 is "DOWN.*", not UP, after 2s; the app on the host is failing its health check/);
    } finally {
      healthy = true;
    }
    expect((await runAsync(waitUp({ ...sockTarget(), timeoutSeconds: 30 }))).status).toBe(0);
  });
});

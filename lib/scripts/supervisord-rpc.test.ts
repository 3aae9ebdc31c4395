import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { supervisordRpcAliveCommand, supervisordRpcRestartCommand } from "./supervisord-rpc";
import { hasCommand, run, sandbox, supervisordConfigLines, type Sandbox } from "./testing/sandbox";

describe("supervisord RPC commands' input", () => {
  it("refuses a relative or odd socket path and a bad program name, naming the argument", () => {
    for (const command of [supervisordRpcRestartCommand, supervisordRpcAliveCommand]) {
      expect(() => command("run/supervisor.sock", "app")).toThrow(/socket/);
      expect(() => command("/run/super visor.sock", "app")).toThrow(/socket .*letters, digits/);
      expect(() => command("/run/supervisor.sock", "app; reboot")).toThrow(/name/);
    }
  });
});

// A real supervisord: the command restarts a running program, starts a stopped one, and fails
// with supervisord's own words when the program dies at start or supervisord cannot be reached.
describe.skipIf(!hasCommand("supervisord") || !hasCommand("curl"))("supervisordRpcRestartCommand against a real supervisord", () => {
  let box: Sandbox;
  let conf = "";
  let socket = "";
  const ctl = (...args: string[]) => spawnSync("supervisorctl", ["-c", conf, ...args], { encoding: "utf8" });
  const starts = () => fs.readFileSync(path.join(box.dir, "starts.log"), "utf8").split("\n").filter(Boolean);

  beforeAll(() => {
    box = sandbox("app");
    socket = path.join(box.dir, "supervisor.sock");
    conf = path.join(box.dir, "supervisord.conf");
    const program = (name: string, command: string) => [
      `[program:${name}]`,
      `command=/bin/sh -c "${command}"`,
      "autostart=false",
      "startsecs=1",
      "startretries=1",
      "stopwaitsecs=2",
    ];
    fs.writeFileSync(
      conf,
      [
        ...supervisordConfigLines(box.dir),
        ...program("app", `echo started >> ${box.dir}/starts.log; exec sleep 1000`),
        ...program("crashes", "echo boom >&2; exit 3"),
        "",
      ].join("\n"),
    );
    const r = spawnSync("supervisord", ["-c", conf], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`supervisord did not start: ${r.stderr}`);
    // supervisord is ready when its socket answers.
    for (let i = 0; i < 100 && ctl("pid").status !== 0; i++) spawnSync("sleep", ["0.05"]);
  });

  afterAll(() => {
    ctl("shutdown");
    box.cleanup();
  });

  it("starts a program that is not running, then restarts it as a new process, without waiting for startsecs", () => {
    const first = run(supervisordRpcRestartCommand(socket, "app"));
    expect(first.stderr).toBe("");
    expect(first.status).toBe(0);
    const pid1 = ctl("pid", "app").stdout.trim();
    // Spawned, and not yet up startsecs (1 s) when the restart returned, or just past it.
    expect(ctl("status", "app").stdout).toMatch(/STARTING|RUNNING/);
    expect(run(supervisordRpcAliveCommand(socket, "app")).status).toBe(0);

    const second = run(supervisordRpcRestartCommand(socket, "app"));
    expect(second.status).toBe(0);
    const pid2 = ctl("pid", "app").stdout.trim();
    expect(pid2).not.toBe(pid1);
    expect(run(supervisordRpcAliveCommand(socket, "app")).status).toBe(0);
    expect(starts()).toEqual(["started", "started"]);
  });

  it("a program that dies at start: the restart returns, and the alive command reports it dead with supervisord's words", () => {
    // startProcess reaps before it answers: a process that has already exited by then (a race
    // a CI run lost) makes supervisord answer SPAWN_ERROR instead of true, and the restart fails
    // with those words. Either answer says it was spawned; no other failure is acceptable.
    const spawned = (r: ReturnType<typeof run>) => {
      if (r.status !== 0) expect(r.stderr.trim()).toBe("supervisord could not start crashes: SPAWN_ERROR: crashes");
    };
    const first = run(supervisordRpcRestartCommand(socket, "crashes"));
    spawned(first);
    // Asked the way the host's check asks between its polls, until supervisord has seen the exit.
    let alive = run(supervisordRpcAliveCommand(socket, "crashes"));
    for (let i = 0; i < 100 && alive.status === 0; i++) {
      spawnSync("sleep", ["0.1"]);
      alive = run(supervisordRpcAliveCommand(socket, "crashes"));
    }
    expect(alive.status).toBe(1);
    expect(alive.stderr.trim()).toMatch(/^supervisord reports crashes (BACKOFF|FATAL|EXITED): \S/);
    // The next restart stops it whatever state supervisord left it in (BACKOFF or FATAL: no
    // "could not stop"), and spawns it again.
    const again = run(supervisordRpcRestartCommand(socket, "crashes"));
    spawned(again);
  });

  it("the alive command fails for a program supervisord does not know, with its fault", () => {
    const r = run(supervisordRpcAliveCommand(socket, "nope"));
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe("supervisord reports nope unknown: BAD_NAME: nope");
  });

  it("fails naming the socket when supervisord cannot be reached", () => {
    const missing = path.join(box.dir, "nobody.sock");
    const r = run(supervisordRpcRestartCommand(missing, "app"));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`cannot reach supervisord at ${missing}`);
    const alive = run(supervisordRpcAliveCommand(missing, "app"));
    expect(alive.status).toBe(1);
    expect(alive.stderr).toContain(`cannot reach supervisord at ${missing}`);
    // Still up: nothing was stopped.
    expect(ctl("status", "app").stdout).toMatch(/STARTING|RUNNING/);
  });
});

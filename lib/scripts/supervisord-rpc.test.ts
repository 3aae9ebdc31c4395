import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { supervisordRpcRestartCommand } from "./supervisord-rpc";
import { hasCommand, run, sandbox, supervisordConfigLines, type Sandbox } from "./testing/sandbox";

describe("supervisordRpcRestartCommand input", () => {
  it("refuses a relative or odd socket path and a bad program name, naming the argument", () => {
    expect(() => supervisordRpcRestartCommand("run/supervisor.sock", "app")).toThrow(/socket/);
    expect(() => supervisordRpcRestartCommand("/run/super visor.sock", "app")).toThrow(/socket .*letters, digits/);
    expect(() => supervisordRpcRestartCommand("/run/supervisor.sock", "app; reboot")).toThrow(/name/);
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

  it("starts a program that is not running, then restarts it as a new process", () => {
    const first = run(supervisordRpcRestartCommand(socket, "app"));
    expect(first.stderr).toBe("");
    expect(first.status).toBe(0);
    const pid1 = ctl("pid", "app").stdout.trim();
    expect(ctl("status", "app").stdout).toMatch(/RUNNING/);

    const second = run(supervisordRpcRestartCommand(socket, "app"));
    expect(second.status).toBe(0);
    const pid2 = ctl("pid", "app").stdout.trim();
    expect(ctl("status", "app").stdout).toMatch(/RUNNING/);
    expect(pid2).not.toBe(pid1);
    expect(starts()).toEqual(["started", "started"]);
  });

  it("fails with supervisord's fault when the program dies before startsecs", () => {
    const r = run(supervisordRpcRestartCommand(socket, "crashes"));
    expect(r.status).toBe(1);
    // Which of the two depends on whether supervisord had given up (FATAL) when it answered.
    expect(r.stderr.trim()).toMatch(/^supervisord could not start crashes: (ABNORMAL_TERMINATION|SPAWN_ERROR): crashes$/);
  });

  it("fails naming the socket when supervisord cannot be reached", () => {
    const missing = path.join(box.dir, "nobody.sock");
    const r = run(supervisordRpcRestartCommand(missing, "app"));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`cannot reach supervisord at ${missing}`);
    expect(ctl("status", "app").stdout).toMatch(/RUNNING/);
  });
});

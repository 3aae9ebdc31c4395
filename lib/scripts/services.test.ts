import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import {
  renderSupervisorProgram,
  renderSystemdUnit,
  supervisorRestartCommand,
  supervisorService,
  systemdRestartCommand,
  systemdService,
  systemdWord,
  type SupervisorProgram,
  type SystemdUnit,
} from "./services";
import { fakeRelease, hasCommand, rid, run, sandbox, supervisordConfigLines, type Sandbox } from "./testing/sandbox";
import { nasty } from "./testing/arbitraries";

const program: SupervisorProgram = {
  name: "myapp",
  command: ["node", "server.js", "--greeting", "100% it's"],
  directory: "/srv/app/current",
  user: "app",
  environmentFile: "/srv/app/shared/.env",
  stopwaitsecs: 20,
  startretries: 3,
};

const unit: SystemdUnit = {
  name: "myapp",
  user: "app",
  workingDirectory: "/srv/app/current",
  execStart: ["/usr/bin/node", "server.js", "--name", 'say "hi" 100% $HOME \\o/'],
  environmentFile: "/srv/app/shared/.env",
  restartSec: 2,
  startLimitBurst: 5,
  startLimitIntervalSec: 60,
};

describe("supervisord", () => {
  it("renders a program section", () => {
    expect(renderSupervisorProgram(program)).toMatchInlineSnapshot(`
      "[program:myapp]
      command=/bin/sh -c 'set -a && . /srv/app/shared/.env && set +a && exec node server.js --greeting '\\''100%% it'\\''\\'\\'''\\''s'\\'''
      directory=/srv/app/current
      user=app
      autostart=true
      autorestart=true
      startsecs=5
      startretries=3
      stopsignal=TERM
      stopwaitsecs=20
      stopasgroup=true
      killasgroup=true
      "
    `);
    expect(renderSupervisorProgram({ name: "w", command: ["bin/worker"], directory: "/srv/app/current", logDir: "/var/log/app" })).toMatchInlineSnapshot(`
      "[program:w]
      command=bin/worker
      directory=/srv/app/current
      autostart=true
      autorestart=true
      startsecs=5
      startretries=3
      stopsignal=TERM
      stopwaitsecs=30
      stopasgroup=true
      killasgroup=true
      stdout_logfile=/var/log/app/w.out.log
      stderr_logfile=/var/log/app/w.err.log
      "
    `);
  });

  it("restart command and the ServiceManager", () => {
    expect(supervisorRestartCommand("/etc/supervisor/supervisord.conf", "myapp")).toBe("supervisorctl -c /etc/supervisor/supervisord.conf restart myapp");
    const s = supervisorService({ conf: "/etc/supervisord.conf", programPath: "/etc/supervisor/conf.d/myapp.conf", program });
    expect(s).toMatchObject({ kind: "supervisord", name: "myapp", configPath: "/etc/supervisor/conf.d/myapp.conf" });
    expect(s.restartCommand()).toBe("supervisorctl -c /etc/supervisord.conf restart myapp");
    expect(s.statusCommand()).toBe("supervisorctl -c /etc/supervisord.conf status myapp");
    expect(s.installScript()).toContain("supervisorctl -c /etc/supervisord.conf update myapp");
  });

  it("rejects root, relative paths, bad names and empty commands", () => {
    expect(() => renderSupervisorProgram({ ...program, user: "root" })).toThrow(/^user "root" is invalid: run the app as a dedicated non-root account/);
    expect(() => renderSupervisorProgram({ ...program, directory: "current" })).toThrow(/^directory "current" is invalid/);
    expect(() => renderSupervisorProgram({ ...program, directory: "/srv/my app" })).toThrow(/^directory .* is invalid: use a path without spaces/);
    expect(() => renderSupervisorProgram({ ...program, name: "my app" })).toThrow(/^name "my app" is invalid/);
    expect(() => renderSupervisorProgram({ ...program, command: [] })).toThrow(/^command \[\] is invalid/);
    expect(() => renderSupervisorProgram({ ...program, command: ["a\nb"] })).toThrow(/^command /);
    expect(() => renderSupervisorProgram({ ...program, stopSignal: "STOP" as never })).toThrow(/^stopSignal "STOP" is invalid: use one of TERM/);
  });
});

describe("systemd", () => {
  it("renders a unit with restart limits, as a non-root user", () => {
    expect(renderSystemdUnit(unit)).toMatchInlineSnapshot(`
      "[Unit]
      Description=myapp (deployed by Cutover)
      After=network-online.target
      Wants=network-online.target
      StartLimitIntervalSec=60
      StartLimitBurst=5

      [Service]
      Type=simple
      User=app
      WorkingDirectory=/srv/app/current
      EnvironmentFile=/srv/app/shared/.env
      ExecStart=/usr/bin/node server.js --name "say \\"hi\\" 100%% $$HOME \\\\o/"
      Restart=on-failure
      RestartSec=2

      [Install]
      WantedBy=multi-user.target
      "
    `);
  });

  it("escapes ExecStart words for systemd", () => {
    expect(systemdWord("/usr/bin/node")).toBe("/usr/bin/node");
    expect(systemdWord("a b")).toBe('"a b"');
    expect(systemdWord('say "hi"')).toBe('"say \\"hi\\""');
    expect(systemdWord("100%")).toBe('"100%%"');
    expect(systemdWord("$HOME")).toBe('"$$HOME"');
    expect(systemdWord("\\")).toBe('"\\\\"');
    expect(systemdWord("")).toBe('""');
  });

  it("restart command and the ServiceManager", () => {
    expect(systemdRestartCommand("myapp")).toBe("systemctl restart myapp.service");
    const s = systemdService(unit);
    expect(s).toMatchObject({ kind: "systemd", configPath: "/etc/systemd/system/myapp.service" });
    expect(s.restartCommand()).toBe("systemctl restart myapp.service");
    expect(s.installScript()).toContain("systemctl daemon-reload\nsystemctl enable myapp.service");
  });

  it("rejects root and bad values, naming the argument", () => {
    expect(() => renderSystemdUnit({ ...unit, user: "root" })).toThrow(/^user "root" is invalid: run the app as a dedicated non-root account/);
    expect(() => renderSystemdUnit({ ...unit, startLimitBurst: 0 })).toThrow(/^startLimitBurst 0 is invalid/);
    expect(() => renderSystemdUnit({ ...unit, workingDirectory: "/srv/%h" })).toThrow(/^workingDirectory /);
    expect(() => renderSystemdUnit({ ...unit, description: "a\nb" })).toThrow(/^description /);
  });

  it.skipIf(!hasCommand("systemd-analyze"))("property: systemd-analyze accepts units with any ExecStart words", () => {
    const box = sandbox("unit");
    try {
      fc.assert(
        fc.property(fc.array(nasty.map((s) => s.replace(/[\0\n\r]/g, "")), { maxLength: 4 }), (words) => {
          const file = path.join(box.root, "cutover-test.service");
          fs.writeFileSync(file, renderSystemdUnit({ ...unit, name: "cutover-test", execStart: ["/bin/sh", ...words], workingDirectory: "/tmp", environmentFile: undefined }));
          const r = spawnSync("systemd-analyze", ["verify", file], { encoding: "utf8" });
          expect(r.stderr.replace(/.*Special user .*\n?/g, "").replace(/.*User=app.*\n?/g, "")).toBe("");
          expect(r.status).toBe(0);
        }),
        { numRuns: 15 },
      );
    } finally {
      box.cleanup();
    }
  });
});

// The rendered program run by a real supervisord: proves the shlex quoting, the %-escaping,
// the environment file and the working directory, and that the restart command restarts.
describe.skipIf(!hasCommand("supervisord") || !hasCommand("supervisorctl"))("supervisord for real", () => {
  let box: Sandbox;
  let conf = "";
  let service: ReturnType<typeof supervisorService>;

  beforeAll(() => {
    box = sandbox("app");
    fakeRelease(box.root, rid(1));
    fs.symlinkSync(`releases/${rid(1)}`, path.join(box.root, "current"));
    fs.writeFileSync(path.join(box.dir, "env"), "GREETING='hello world'\n");
    fs.mkdirSync(path.join(box.dir, "programs"));
    conf = path.join(box.dir, "supervisord.conf");
    fs.writeFileSync(
      conf,
      [
        ...supervisordConfigLines(box.dir),
        "[include]",
        `files=${box.dir}/programs/*.conf`,
        "",
      ].join("\n"),
    );
    service = supervisorService({
      conf,
      programPath: path.join(box.dir, "programs", "app.conf"),
      program: {
        name: "app",
        command: ["/bin/sh", "-c", `echo "$GREETING 100% it's $(cat REVISION)" >> ${box.dir}/out.log; exec sleep 1000`],
        directory: path.join(box.root, "current"),
        environmentFile: path.join(box.dir, "env"),
        startsecs: 1,
        stopwaitsecs: 2,
      },
    });
    fs.writeFileSync(service.configPath, service.configText());
    const r = spawnSync("supervisord", ["-c", conf], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`supervisord did not start: ${r.stderr}`);
  });

  afterAll(() => {
    spawnSync("supervisorctl", ["-c", conf, "shutdown"]);
    box.cleanup();
  });

  const waitRunning = () => run(`for i in $(seq 50); do ${service.statusCommand()} | grep -q RUNNING && exit 0; sleep 0.2; done; exit 1`);

  it("starts the program in current with the environment file, and restarts it", () => {
    expect(waitRunning().status).toBe(0);
    const out = () => fs.readFileSync(path.join(box.dir, "out.log"), "utf8");
    expect(out()).toBe(`hello world 100% it's ${rid(1)}\n`);

    fakeRelease(box.root, rid(2));
    fs.symlinkSync(`releases/${rid(2)}`, path.join(box.root, "current.tmp"));
    fs.renameSync(path.join(box.root, "current.tmp"), path.join(box.root, "current"));
    const r = run(service.restartCommand());
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(waitRunning().status).toBe(0);
    expect(out()).toBe(`hello world 100% it's ${rid(1)}\nhello world 100% it's ${rid(2)}\n`);
  });

  it("installScript writes the section and supervisord picks it up", () => {
    const other = supervisorService({
      conf,
      programPath: path.join(box.dir, "programs", "other.conf"),
      program: { name: "other", command: ["sleep", "1000"], directory: box.dir, startsecs: 0 },
    });
    const r = run(other.installScript());
    expect(r.status).toBe(0);
    expect(fs.readFileSync(other.configPath, "utf8")).toBe(other.configText());
    expect(run(`sleep 0.5; ${other.statusCommand()}`).stdout).toMatch(/^other\s+RUNNING/);
  });
});

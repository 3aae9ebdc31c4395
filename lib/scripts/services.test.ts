import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { renderSystemdUnit, supervisorRestartCommand, type SystemdUnit } from "./services";
import { hasCommand, sandbox } from "./testing/sandbox";
import { nasty } from "./testing/arbitraries";

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
  it("restart command", () => {
    expect(supervisorRestartCommand("/etc/supervisor/supervisord.conf", "myapp")).toBe("supervisorctl -c /etc/supervisor/supervisord.conf restart myapp");
    expect(() => supervisorRestartCommand("supervisord.conf", "myapp")).toThrow(/^conf "supervisord.conf" is invalid/);
    expect(() => supervisorRestartCommand("/etc/supervisord.conf", "my app")).toThrow(/^name "my app" is invalid/);
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
    const execStart = (...words: string[]) => renderSystemdUnit({ ...unit, execStart: words }).match(/^ExecStart=(.*)$/m)![1];
    expect(execStart("/usr/bin/node", "a b")).toBe('/usr/bin/node "a b"');
    expect(execStart("x", 'say "hi"')).toBe('x "say \\"hi\\""');
    expect(execStart("x", "100%", "$HOME")).toBe('x "100%%" "$$HOME"');
    expect(execStart("x", "\\", "")).toBe('x "\\\\" ""');
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

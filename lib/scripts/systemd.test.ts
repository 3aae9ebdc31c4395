// systemd as the service manager of existing servers and EC2 hosts: the unit Cutover renders
// passes `systemd-analyze verify` with a real binary, working directory and environment file;
// the sudo rule passes `visudo -c` and allows exactly the restart Cutover runs; the secret
// environment file is written 0600 from stdin, its content never on a command line.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { renderSudoRule, renderSystemdUnit, systemdSudoRestartCommand, systemdSudoStopCommand, writeSecretFileScript } from "./services";
import { fakeRelease, hasCommand, rid, sandbox, type Sandbox } from "./testing/sandbox";

// The app account the local fleets use; created here when this machine has none yet.
const appUser = "cutover-app";
function ensureAppUser(): void {
  if (spawnSync("id", ["-u", appUser]).status === 0) return;
  const r = spawnSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", appUser], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`cannot create the ${appUser} account (run as root): ${r.stderr}`);
}

let box: Sandbox;
beforeEach(() => (box = sandbox("systemd")));
afterEach(() => box.cleanup());

describe("systemd unit", () => {
  it.skipIf(!hasCommand("systemd-analyze"))("passes systemd-analyze verify: non-root User=, EnvironmentFile=, start limits, WorkingDirectory=current", () => {
    ensureAppUser();
    fakeRelease(box.root, rid(1));
    fs.symlinkSync(`releases/${rid(1)}`, path.join(box.root, "current"));
    const envFile = path.join(box.dir, "app.env");
    fs.writeFileSync(envFile, "GREETING=hello\n", { mode: 0o600 });
    const text = renderSystemdUnit({
      name: "cutover-verify",
      user: appUser,
      workingDirectory: path.join(box.root, "current"),
      execStart: [process.execPath, "server.js", "--port", "8080"],
      environmentFile: envFile,
    });
    expect(text).toMatch(/^User=cutover-app$/m);
    expect(text).toMatch(/^Restart=on-failure$/m);
    expect(text).toMatch(/^StartLimitBurst=5$/m);
    expect(text).toMatch(/^StartLimitIntervalSec=60$/m);
    expect(text).toContain(`WorkingDirectory=${box.root}/current\n`);
    expect(text).toContain(`EnvironmentFile=${envFile}\n`);
    const file = path.join(box.dir, "cutover-verify.service");
    fs.writeFileSync(file, text);
    const r = spawnSync("systemd-analyze", ["verify", file], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});

describe("sudo rule for the deploy account", () => {
  const rule = renderSudoRule({ user: "cutover", service: "shop" });

  it("allows the restart and the stop Cutover runs, and nothing else", () => {
    expect(rule).toBe(
      "# Rendered by Cutover: cutover may restart and stop shop.service and nothing else.\n" +
        "cutover ALL=(root) NOPASSWD: /usr/bin/systemctl restart shop.service, /usr/bin/systemctl stop shop.service, /usr/bin/systemctl is-active shop.service\n",
    );
    // The commands after `sudo -n` are word for word ones the rule allows.
    const allowed = rule.split("NOPASSWD: ")[1].trim().split(", ");
    expect(allowed).toContain(systemdSudoRestartCommand("shop").replace(/^sudo -n /, ""));
    expect(allowed).toContain(systemdSudoStopCommand("shop").replace(/^sudo -n /, ""));
    expect(() => renderSudoRule({ user: "root", service: "shop" })).toThrow(/^user "root" is invalid/);
    expect(() => renderSudoRule({ user: "cutover", service: "shop, /bin/sh" })).toThrow(/^service .* is invalid/);
  });

  it.skipIf(!hasCommand("visudo"))("passes visudo -c", () => {
    const file = path.join(box.dir, "cutover-shop");
    fs.writeFileSync(file, rule, { mode: 0o440 });
    const r = spawnSync("visudo", ["-c", "-q", "-f", file], { encoding: "utf8" });
    expect(r.stderr + r.stdout).toBe("");
    expect(r.status).toBe(0);
  });
});

describe("secret environment file", () => {
  it("is written 0600 from stdin; the secret is not in the script", () => {
    const file = path.join(box.dir, "app.env");
    const secret = "DATABASE_URL=postgres://app:s3cr3t@db/app\n";
    const script = writeSecretFileScript(file, "root");
    expect(script).not.toContain("s3cr3t");
    const r = spawnSync("sh", ["-c", script], { input: secret, encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(fs.readFileSync(file, "utf8")).toBe(secret);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.existsSync(`${file}.tmp`)).toBe(false);
  });
});

// The quick start on a fresh machine: `npm run demo` / `npm test` first run scripts/setup-host.sh,
// which installs the missing Debian packages as root, and as another user changes nothing and
// prints the exact command. Checked with stand-ins for dpkg-query, apt-get and id on PATH, so
// the test neither needs a fresh machine nor touches this one's packages.
import { afterAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runProcess } from "../lib/engine/command-provider/run";
import { repoRoot } from "./support/engine";

const stubs = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-cli-setup-"));
const aptLog = path.join(stubs, "apt.log");
const stub = (name: string, body: string) => fs.writeFileSync(path.join(stubs, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
stub("dpkg-query", 'for p in $MISSING; do [ "$p" = "$3" ] && exit 1; done; printf "install ok installed"');
stub("apt-get", `echo "$*" >> ${aptLog}`);
stub("id", 'echo "$FAKE_UID"');
stub("systemctl", "exit 0");
stub("service", "exit 0");

function run(command: string[], uid: number, missing: string) {
  fs.rmSync(aptLog, { force: true });
  return runProcess(command[0], command.slice(1), {
    cwd: repoRoot,
    env: { ...process.env, PATH: `${stubs}:${process.env.PATH}`, FAKE_UID: String(uid), MISSING: missing },
  });
}
const aptCalls = () => (fs.existsSync(aptLog) ? fs.readFileSync(aptLog, "utf8").trim().split("\n") : []);

afterAll(() => fs.rmSync(stubs, { recursive: true, force: true }));

describe("quick start on a machine without the fleet's Debian packages", () => {
  it("as root: installs exactly the missing packages", async () => {
    const r = await run(["bash", "scripts/setup-host.sh", "npm run demo"], 0, "haproxy wrk openssh-server");
    expect(r.code).toBe(0);
    expect(aptCalls()).toEqual(["update -qq", "install -y -qq --no-install-recommends openssh-server haproxy wrk"]);
    expect(r.stdout).toContain("[setup] installed openssh-server haproxy wrk");
  });

  it("for the tests, also sudo (its visudo checks the rendered sudoers rule); not for the demo", async () => {
    const tests = await run(["bash", "scripts/setup-host.sh", "npm test"], 0, "sudo");
    expect(tests.code).toBe(0);
    expect(aptCalls()).toEqual(["update -qq", "install -y -qq --no-install-recommends sudo"]);
    const demo = await run(["bash", "scripts/setup-host.sh", "npm run demo"], 0, "sudo");
    expect(demo.code).toBe(0);
    expect(aptCalls()).toEqual([]);
  });

  it("as root with everything present: does not touch apt", async () => {
    const r = await run(["bash", "scripts/setup-host.sh", "npm test"], 0, "");
    expect(r.code).toBe(0);
    expect(aptCalls()).toEqual([]);
  });

  it("not root: changes nothing and prints the exact command", async () => {
    const r = await run(["bash", "scripts/setup-host.sh", "npm run demo"], 1000, "haproxy wrk");
    expect(r.code).toBe(1);
    expect(aptCalls()).toEqual([]);
    expect(r.stderr).toContain("sudo apt-get update && sudo apt-get install -y --no-install-recommends haproxy wrk");
    expect(r.stderr).toContain("run `sudo npm run demo`");
  });

  it("`npm run demo` as a user stops at that message, before building or provisioning anything", async () => {
    const marker = path.join(repoRoot, "dist", "lib", "index.js");
    const before = fs.existsSync(marker) ? fs.statSync(marker).mtimeMs : 0;
    const r = await run(["npm", "run", "demo"], 1000, "openssh-server supervisor");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("sudo apt-get install -y --no-install-recommends openssh-server supervisor");
    expect(r.stdout).not.toContain("tsc -p");
    expect(fs.existsSync(marker) ? fs.statSync(marker).mtimeMs : 0).toBe(before);
    expect(aptCalls()).toEqual([]);
  });
});

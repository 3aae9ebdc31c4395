// The embedded local fleet, for real: the repo's stack program brought up on the engine with
// 3 web hosts and a worker, reached over SSH through its gateway, HAProxy health-checking the
// web hosts, revived after its processes die, and destroyed without a trace.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import { execFileSync } from "node:child_process";
import { OutputMap, Stack } from "@pulumi/pulumi/automation";
import { requireEngine, stackUnderTest, StackUnderTest } from "./support/engine";
import { FleetAccess, backendStatus, fleetAccess, fleetProcesses, sshLogins } from "./support/fleet";
import { sh } from "../lib/scripts/quote";
import { FLEET_REGISTRY } from "../lib/scripts/fleet/machine";

const stackName = "fleettest";
// Its own base dir: destroy removes it when empty, whatever other test fleets are left.
const baseDir = "/var/lib/cutover/test-fleet-e2e";
const fleetDir = `${baseDir}/${stackName}`;
const subnet = "127.78.0";
const webHosts = ["web1", "web2", "web3"];
const config = {
  "cutover:provider": "local",
  "cutover:fleet": {
    subnet,
    baseDir,
    sshPort: 2222,
    appPort: 8080,
    lbPort: 8080,
    hosts: [...webHosts.map((name) => ({ name, roles: ["web"] })), { name: "worker1", roles: ["worker"] }],
  },
};

const sshAccepted = (host: string) => sshLogins(fleetDir, host);
/** The `getent` line of a user or group, "" when there is none. */
function getent(db: string, name: string): string {
  try {
    return execFileSync("getent", [db, name]).toString().trim();
  } catch {
    return "";
  }
}
// With no other fleet on the machine, the app user's group is planted alone, as an interrupted
// removal (userdel refused while sessions ran) used to leave it: creating the fleet must cope.
const plantedGroup = !fs.existsSync(FLEET_REGISTRY) && getent("passwd", "cutover-app") === "" && getent("group", "cutover-app") === "";

async function waitFor<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, seconds: number): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  let last = await probe();
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${seconds} s; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 250));
    last = await probe();
  }
  return last;
}

/** Pids of `sleep 300` processes running as `uid`. */
function sleepsOf(uid: string): number[] {
  return fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p)).flatMap((p) => {
    try {
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, "utf8").replace(/\0/g, " ").trim();
      const owner = fs.readFileSync(`/proc/${p}/status`, "utf8").match(/^Uid:\s+(\d+)/m)?.[1];
      return cmd === "sleep 300" && owner === uid ? [Number(p)] : [];
    } catch {
      return [];
    }
  });
}

describe("the local fleet (dev stack) on the real engine", () => {
  let underTest: StackUnderTest;
  let stack: Stack;
  let outputs: OutputMap;
  let fleet: FleetAccess;

  beforeAll(async () => {
    requireEngine();
    if (plantedGroup) execFileSync("groupadd", ["--system", "cutover-app"]);
    underTest = await stackUnderTest(stackName, config);
    stack = underTest.stack;
    const up = await stack.up();
    expect(up.summary.result).toBe("succeeded");
    outputs = up.outputs;
    fleet = fleetAccess(outputs);
  }, 300_000);

  afterAll(async () => {
    // Whatever happened above, leave no fleet behind.
    await underTest?.teardown();
  }, 300_000);

  it("reaches every host over SSH through the gateway, each on its own address", async () => {
    const reachable = outputs.reachable.value as Record<string, string>;
    for (const [i, host] of [...webHosts, "worker1"].entries()) {
      expect(reachable[host]).toBe(`cutover ${host} ${subnet}.${10 + i}:2222`);
      // And again from outside Pulumi, with the system's ssh client and the pinned keys.
      const answer = await fleet.must(host, sh`id -un; cat ${`${fleetDir}/${host}/identity`}`);
      expect(answer.trim().split("\n")).toEqual(["cutover", host]);
    }
    // The gateway forwarded a channel to every host: Cutover never dials them directly.
    const gatewayLog = fs.readFileSync(`${fleetDir}/gateway/ssh/sshd.log`, "utf8");
    for (let i = 0; i < 4; i++) expect(gatewayLog).toContain(`target ${subnet}.${10 + i} port 2222`);
    // The gateway only forwards: its key is restricted, so no command runs there.
    const direct = await fleet.run("lb", "true").then(() => "ok");
    expect(direct).toBe("ok");
    const gatewayKeys = fs.readFileSync(`${fleetDir}/gateway/ssh/authorized_keys`, "utf8");
    expect(gatewayKeys).toMatch(/^restrict,port-forwarding,permitopen="127\.78\.0\.2:2222".*command="\/bin\/false" ssh-ed25519 /);
  });

  it("runs the app as the non-root app user and HAProxy lists the web hosts as UP", async () => {
    const adminSocket = `${fleetDir}/lb/haproxy/admin.sock`;
    // No app yet: the health checks take the web hosts DOWN (HAProxy starts them UP).
    await waitFor("all web hosts DOWN", () => backendStatus(fleet, adminSocket, "web"), (s) => Object.values(s).join() === "DOWN,DOWN,DOWN", 20);
    // A hand-made release, the way a deploy lays one out, started through supervisord by the
    // deploy user: the health checks turn the web hosts UP.
    const app = "require('http').createServer((q,s)=>s.end(q.url==='/healthz'?'ok\\n':process.getuid()+'\\n')).listen(+process.env.PORT,process.env.HOST)";
    for (const host of webHosts) {
      const root = `${fleetDir}/${host}/app`;
      await fleet.must(
        host,
        [
          sh`mkdir -p ${`${root}/releases/manual`}`,
          sh`printf '%s' ${app} > ${`${root}/releases/manual/server.js`}`,
          sh`ln -sfn releases/manual ${`${root}/current`}`,
          sh`supervisorctl -c ${`${fleetDir}/${host}/supervisor/supervisord.conf`} restart app`,
        ].join(" && "),
      );
    }
    const status = await waitFor("all web hosts UP", () => backendStatus(fleet, adminSocket, "web"), (s) => Object.values(s).every((v) => v === "UP"), 20);
    expect(Object.keys(status)).toEqual(webHosts);
    const uid = execFileSync("id", ["-u", "cutover-app"], { encoding: "utf8" }).trim();
    const body = execFileSync("curl", ["-fsS", "--max-time", "5", String(outputs.lbUrl.value)], { encoding: "utf8" }).trim();
    expect(body).toBe(uid);
    expect(uid).not.toBe("0");
  }, 120_000);

  it("changes nothing and runs nothing on the hosts when up runs again unchanged", async () => {
    const before = [...webHosts, "worker1", "lb"].map(sshAccepted);
    const up = await stack.up();
    const changes = Object.entries(up.summary.resourceChanges ?? {}).filter(([op]) => op !== "same");
    expect(changes).toEqual([]);
    expect([...webHosts, "worker1", "lb"].map(sshAccepted)).toEqual(before);
  }, 180_000);

  it("refuses a host whose key differs from the pinned one, naming the host", async () => {
    const key = `${fleetDir}/web2/ssh/ssh_host_ed25519_key`;
    const saved = [fs.readFileSync(key), fs.readFileSync(`${key}.pub`)];
    const reloadSshd = () => execFileSync("bash", ["-c", sh`kill -HUP "$(cat ${`${fleetDir}/web2/ssh/sshd.pid`})"`]);
    try {
      fs.rmSync(key);
      fs.rmSync(`${key}.pub`);
      execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
      reloadSshd();
      const urn = (await stack.exportStack()).deployment.resources.find((r: { urn: string }) => r.urn.endsWith("::fleettest-web2-reachable")).urn;
      let output = "";
      const failed = await stack.up({ replace: [urn], onOutput: (l) => (output += l) }).then(() => "succeeded", (e: Error) => e.message);
      expect(failed).not.toBe("succeeded");
      expect(output).toMatch(/fleettest-web2-reachable .*cannot reach cutover@127\.78\.0\.11:2222 via gateway cutover@127\.78\.0\.1:2222: .*Host key verification failed/);
      expect(output).not.toContain("cutover-ssh-"); // no advice about our temp known_hosts file
    } finally {
      fs.writeFileSync(key, saved[0], { mode: 0o600 });
      fs.writeFileSync(`${key}.pub`, saved[1]);
      reloadSshd();
    }
    const again = await stack.up({ replace: [] });
    expect(again.summary.result).toBe("succeeded");
  }, 180_000);

  it("brings the fleet back when its processes are gone (as after a reboot)", async () => {
    const running = fleetProcesses(fleetDir);
    // 6 sshd, 4 supervisord, 1 haproxy, and the 3 web apps started above.
    expect(running.filter((p) => / \[listener\]|supervisord|haproxy/.test(p.cmdline))).toHaveLength(11);
    expect(running.filter((p) => p.cmdline.endsWith(" server.js"))).toHaveLength(3);
    for (const p of running) process.kill(p.pid, "SIGKILL");
    await waitFor("fleet processes gone", async () => fleetProcesses(fleetDir).length, (n) => n === 0, 10);
    const preview = await stack.preview();
    expect(preview.changeSummary.update).toBe(11);
    const up = await stack.up();
    expect(up.summary.resourceChanges?.update).toBe(11);
    expect((await fleet.must("web3", "echo back")).trim()).toBe("back");
    const upAgain = await stack.up();
    expect(Object.keys(upAgain.summary.resourceChanges ?? {})).toEqual(["same"]);
  }, 300_000);

  it("destroy leaves no process and no file of the fleet behind", async () => {
    // A session still open as the deploy user, as a deploy's pooled connection would be.
    const uid = getent("passwd", "cutover").split(":")[2];
    const held = fleet.run("web1", "exec sleep 300").catch(() => undefined);
    await waitFor("the held session's process", async () => sleepsOf(uid), (pids) => pids.length > 0, 30);
    const down = await stack.destroy();
    expect(down.summary.result).toBe("succeeded");
    expect(fleetProcesses(fleetDir)).toEqual([]);
    expect(fs.existsSync(fleetDir)).toBe(false);
    expect(fs.existsSync(baseDir)).toBe(false);
    // The last fleet on the machine takes its users and their groups with it, even with
    // sessions still open as the deploy user (the leftover group the setup planted is gone too).
    if (!fs.existsSync(FLEET_REGISTRY)) {
      for (const db of ["passwd", "group"]) for (const name of ["cutover", "cutover-app"]) expect(getent(db, name), `${db} ${name}`).toBe("");
      expect(sleepsOf(uid)).toEqual([]);
    } else {
      // Other fleets keep the users; the session is ended here so the test does not wait on it.
      for (const pid of sleepsOf(uid)) process.kill(pid, "SIGKILL");
    }
    await held;
  }, 180_000);
});

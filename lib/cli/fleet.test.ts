import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { AddressInfo } from "node:net";
import { runProcess } from "../engine/command-provider/run";
import { age, hostProbe, parseProbe, parseShowStat } from "./fleet";

// The probe `cutover status` runs on each host, run here with bash on a host layout in a temp dir.
describe("the per-host status probe", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-cli-probe-"));
  let server: http.Server;
  let port = 0;
  let holder: ChildProcess | undefined;

  beforeAll(async () => {
    fs.mkdirSync(path.join(root, "releases", "2-bbbbbbbbbbbb"), { recursive: true });
    fs.mkdirSync(path.join(root, ".cutover"));
    fs.symlinkSync("releases/2-bbbbbbbbbbbb", path.join(root, "current"));
    server = http.createServer((req, res) => {
      if (req.url !== "/healthz") res.statusCode = 500;
      res.end(req.url === "/healthz" ? "2-bbbbbbbbbbbb\n" : "unhealthy");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    holder?.kill();
    await new Promise<void>((r) => server.close(() => r()));
    fs.rmSync(root, { recursive: true, force: true });
  });

  const probe = async (healthPath = "/healthz") =>
    parseProbe("web1", await runProcess("bash", ["-c", hostProbe({ name: "web1", roles: ["web"], address: "127.0.0.1", port, root }, healthPath)], {}));

  it("reports where current points, what the app serves, and a free lock", async () => {
    expect(await probe()).toEqual({ host: "web1", reachable: true, current: "2-bbbbbbbbbbbb", serves: "2-bbbbbbbbbbbb", lock: { held: false } });
    expect((await probe("/other")).serves).toBe("HTTP 500: unhealthy");
  });

  it("reads the holder's record only while the flock lock is held, and names the process that holds it", async () => {
    const lock = path.join(root, ".cutover", "deploy.lock");
    fs.writeFileSync(`${lock}.info`, "owner=alice\nstack=prod\nrelease=3-cccccccccccc\nstep=cycle\npid=777\ntime=2026-11-23T10:00:00Z\n");
    expect((await probe()).lock).toEqual({ held: false }); // a record alone is not a held lock
    holder = spawn("flock", [lock, "-c", "echo locked; exec cat"], { stdio: ["pipe", "pipe", "inherit"] });
    await new Promise<void>((r) => holder!.stdout!.once("data", () => r()));
    // The holder is the process the kernel names (flock's own, here), not the record's stale pid.
    expect((await probe()).lock).toEqual({
      held: true,
      owner: "alice",
      stack: "prod",
      release: "3-cccccccccccc",
      step: "cycle",
      pid: String(holder.pid),
      command: `flock ${lock} -c echo locked; exec cat`,
      time: "2026-11-23T10:00:00Z",
    });
    holder.stdin!.end();
    await new Promise((r) => holder!.once("exit", r));
    expect((await probe()).lock).toEqual({ held: false });
  });

  it("asks an overlap host's serving slot (its last settled move), and says which", async () => {
    const other = http.createServer((_req, res) => res.end("1-aaaaaaaaaaaa\n"));
    await new Promise<void>((r) => other.listen(0, "127.0.0.1", r));
    const otherPort = (other.address() as AddressInfo).port;
    const host = { name: "web1", roles: ["web"], address: "127.0.0.1", port: otherPort, root, standby: { port, server: "web1-b" } };
    const ask = async () => parseProbe("web1", await runProcess("bash", ["-c", hostProbe(host, "/healthz")], {}));
    try {
      expect(await ask()).toMatchObject({ slot: "a", serves: "1-aaaaaaaaaaaa" }); // never moved: slot a
      fs.mkdirSync(path.join(root, ".cutover", "slots"), { recursive: true });
      fs.writeFileSync(path.join(root, ".cutover", "slots", "serving"), "b\n");
      expect(await ask()).toMatchObject({ slot: "b", serves: "2-bbbbbbbbbbbb" });
    } finally {
      fs.rmSync(path.join(root, ".cutover", "slots"), { recursive: true, force: true });
      await new Promise<void>((r) => other.close(() => r()));
    }
  });

  it("says when the app does not answer", async () => {
    const s = parseProbe("web1", { code: 0, stdout: "current -\nlock free\nhttp 000\nbody curl: (7) Failed to connect\n", stderr: "" });
    expect(s).toMatchObject({ current: undefined, serves: "no answer (Failed to connect)" });
    expect(parseProbe("web1", { code: 255, stdout: "", stderr: "ssh: connect to host 127.91.0.10 port 2222: Connection refused\n" })).toEqual({
      host: "web1",
      reachable: false,
      error: "ssh: connect to host 127.91.0.10 port 2222: Connection refused",
    });
  });

  it("reads HAProxy's server states by column name", () => {
    const csv = "# pxname,svname,qcur,status,weight\nweb_front,FRONTEND,,OPEN,\nweb,web1,0,UP,1\nweb,web2,0,MAINT,1\nweb,BACKEND,0,UP,2\nother,web1,0,DOWN,1\n";
    expect(parseShowStat(csv, "web")).toEqual({ web1: "UP", web2: "MAINT" });
    expect(age("2026-11-23T10:00:00Z", Date.parse("2026-11-23T10:00:42Z"))).toBe("42 s");
  });
});

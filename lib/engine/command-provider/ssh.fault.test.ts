// The command provider's SSH against real sshd instances on loopback addresses (issue 10,
// security): private keys never on disk, every exit path cleans up, `%` survives ssh's token
// expansion, and "cannot reach" means the connection failed, not that the command exited 255.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { CommandProvider } from "./provider";
import { ASSET } from "./secrets";
import { Connection, proxyCommand, runRemote, sshPercent } from "./ssh";

const SIG = "4dabf18193072939515e22adb298388d";
const urn = (type: string) => `urn:pulumi:dev::proj::cutover:test$${type}::step`;
const REMOTE = urn("command:remote:Command");
const COPY = urn("command:remote:CopyToRemote");

describe("ssh words", () => {
  it("doubles % in ProxyCommand words, keeps the %h:%p that names the target", () => {
    expect(proxyCommand(["ssh", "-o", 'IdentityFile="/t/a%%b"', "-W", "%h:%p", "u%1@h"])).toBe(
      `ssh -o 'IdentityFile="/t/a%%%%b"' -W %h:%p u%%1@h`,
    );
    expect(sshPercent("100%")).toBe("100%%");
  });
});

/** Processes whose command line mentions `text`. */
function processesMentioning(text: string): string[] {
  const found: string[] = [];
  for (const pid of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
      if (cmd.includes(text)) found.push(`${pid} ${cmd}`);
    } catch {
      /* gone */
    }
  }
  return found;
}

/** Every regular file below `dir` (none if it is gone). */
function filesBelow(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true, recursive: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath ?? e.path, e.name));
}

async function until(what: string, check: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const haveSshd = fs.existsSync("/usr/sbin/sshd");

describe.skipIf(!haveSshd)("ssh against real sshd (openssh-server: scripts/setup-host.sh)", () => {
  const user = os.userInfo().username;
  const subnet = `127.88.${20 + (process.pid % 200)}`;
  const GATEWAY = `${subnet}.2`;
  const TARGET = `${subnet}.3`;
  let port = 0;
  let root = "";
  let privateKey = "";
  let keyBody = "";
  const hostKeys: Record<string, string> = {};
  const daemons: ChildProcess[] = [];
  const logs: Record<string, string> = {};
  let savedTmp: string | undefined;

  const freePort = () =>
    new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });

  async function startSshd(name: string, address: string, gateway: boolean): Promise<void> {
    const dir = path.join(root, name);
    fs.mkdirSync(dir);
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(dir, "host_key")]);
    hostKeys[name] = fs.readFileSync(path.join(dir, "host_key.pub"), "utf8").split(" ").slice(0, 2).join(" ");
    const config = [
      `ListenAddress ${address}:${port}`,
      `HostKey ${dir}/host_key`,
      `PidFile ${dir}/sshd.pid`,
      `AuthorizedKeysFile ${root}/authorized_keys`,
      `AllowUsers ${user}`,
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "StrictModes no",
      "AcceptEnv CUTOVER_*",
      `AllowTcpForwarding ${gateway ? "yes" : "no"}`,
      "Subsystem sftp internal-sftp",
      "LogLevel VERBOSE",
      "",
    ].join("\n");
    fs.writeFileSync(path.join(dir, "sshd_config"), config);
    const d = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", path.join(dir, "sshd_config")], { stdio: ["ignore", "ignore", "pipe"] });
    daemons.push(d);
    logs[name] = "";
    d.stderr!.on("data", (b: Buffer) => (logs[name] += b.toString()));
    await until(`sshd ${name} to listen`, () => logs[name].includes("Server listening"), 10_000);
  }

  const target = (over: Partial<Connection> = {}): Connection => ({
    host: TARGET,
    port,
    user,
    privateKey,
    hostKey: hostKeys.target,
    dialErrorLimit: 1,
    ...over,
  });
  const viaGateway = (over: Partial<Connection> = {}): Connection =>
    target({ proxy: { host: GATEWAY, port, user, privateKey, hostKey: hostKeys.gateway }, ...over });

  /** A fresh TMPDIR for the code under test: its call dirs appear there. */
  const useTmp = (name: string) => {
    const dir = path.join(root, name);
    fs.mkdirSync(dir, { recursive: true });
    process.env.TMPDIR = dir;
    return dir;
  };

  beforeAll(async () => {
    root = fs.mkdtempSync("/tmp/cutover-sshd-");
    fs.chmodSync(root, 0o755);
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "deploy", "-f", path.join(root, "deploy_key")]);
    privateKey = fs.readFileSync(path.join(root, "deploy_key"), "utf8");
    fs.copyFileSync(path.join(root, "deploy_key.pub"), path.join(root, "authorized_keys"));
    // The test's own copy goes: from here on the key exists only in this process's memory.
    fs.rmSync(path.join(root, "deploy_key"));
    keyBody = privateKey.split("\n")[2];
    port = await freePort();
    await startSshd("gateway", GATEWAY, true);
    await startSshd("target", TARGET, false);
    savedTmp = process.env.TMPDIR;
  }, 30_000);

  afterEach(() => {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
  });

  afterAll(() => {
    for (const d of daemons) d.kill("SIGTERM");
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it("runs a command with stdin and environment and returns its output and exit code", async () => {
    const r = await runRemote(target(), 'read l; echo "out $l [$CUTOVER_A]"; echo err >&2; exit 3', "line\n", { CUTOVER_A: `x "y" $z %h` });
    expect(r).toEqual({ code: 3, stdout: 'out line [x "y" $z %h]\n', stderr: "err\n", reached: true });
  });

  it("goes through the gateway with % and spaces in every path ssh reads", async () => {
    const tmp = useTmp("t%h %p 100%% dir");
    const before = (logs.gateway.match(/Accepted publickey/g) ?? []).length;
    const call = runRemote(viaGateway(), "sleep 0.5; echo through", undefined, {});
    await until("the call dir in the % TMPDIR", () => fs.readdirSync(tmp).some((d) => d.startsWith("cutover-ssh-")));
    const r = await call;
    expect(r.stderr).toBe("");
    expect(r).toMatchObject({ code: 0, stdout: "through\n", reached: true });
    expect((logs.gateway.match(/Accepted publickey/g) ?? []).length).toBe(before + 1);
    expect(fs.readdirSync(tmp)).toEqual([]);
  });

  it("reports a remote exit 255 with empty stdout as the command's failure, not as unreachable", async () => {
    const r = await runRemote(target(), "exit 255", undefined, {});
    expect(r).toEqual({ code: 255, stdout: "", stderr: "", reached: true });
    const p = new CommandProvider();
    const failed = p.create(REMOTE, { connection: target() as never, create: "echo oops >&2; exit 255" });
    await expect(failed).rejects.toThrow(/step: create command on .* failed with exit code 255 \(the command exited 255, or the connection to the host was lost while it ran\)\nstderr:\noops/);
    await expect(failed).rejects.not.toThrow(/cannot reach/);
  });

  it("reports a host that refuses connections as unreachable, after dialErrorLimit attempts", async () => {
    const closed = await freePort();
    const started = Date.now();
    const p = new CommandProvider();
    await expect(p.create(REMOTE, { connection: target({ port: closed, dialErrorLimit: 2 }) as never, create: "true" })).rejects.toThrow(
      new RegExp(`cannot reach ${user}@${TARGET.replace(/\./g, "\\.")}:${closed}: .*Connection refused`),
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(500); // one back-off between the two attempts
  });

  it("refuses a host whose key is not the pinned one, and says so", async () => {
    const p = new CommandProvider();
    await expect(p.create(REMOTE, { connection: target({ hostKey: hostKeys.gateway }) as never, create: "true" })).rejects.toThrow(
      /cannot reach .*Host key verification failed.*presented a key other than the pinned connection\.hostKey/,
    );
  });

  it("never writes the private key to disk; the agent is gone while the command runs; all is removed after", async () => {
    const tmp = useTmp("nokey");
    const seen: Array<{ files: string[]; agent: boolean; control: boolean }> = [];
    let running = true;
    const watcher = (async () => {
      while (running) {
        const files = filesBelow(tmp);
        for (const f of files) {
          const text = fs.readFileSync(f, "utf8");
          if (text.includes("PRIVATE KEY") || text.includes(keyBody)) throw new Error(`private key material in ${f}`);
        }
        const dirs = fs.existsSync(tmp) ? fs.readdirSync(tmp) : [];
        const call = dirs[0] ? path.join(tmp, dirs[0]) : "";
        if (call && fs.existsSync(call)) expect(fs.statSync(call).mode & 0o777).toBe(0o700);
        seen.push({ files, agent: !!call && fs.existsSync(path.join(call, "agent")), control: !!call && fs.existsSync(path.join(call, "control")) });
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const r = await runRemote(viaGateway(), "sleep 1; echo done", undefined, {});
    running = false;
    await watcher;
    expect(r).toMatchObject({ code: 0, stdout: "done\n" });
    expect(seen.some((s) => s.control && !s.agent)).toBe(true);
    expect(fs.readdirSync(tmp)).toEqual([]);
    await until("the connection and the agent to go", () => processesMentioning(tmp).length === 0, 5000);
  });

  it("copies a file and a directory over the connection; a copy that fails after connecting is not 'unreachable'", async () => {
    const src = path.join(root, "src");
    fs.mkdirSync(path.join(src, "sub"), { recursive: true });
    fs.writeFileSync(path.join(src, "sub", "f"), "content\n");
    const p = new CommandProvider();
    const dest = path.join(root, "dest");
    fs.mkdirSync(dest);
    await p.create(COPY, { connection: viaGateway() as never, source: { [SIG]: ASSET, path: path.join(src, "sub", "f") } as never, remotePath: path.join(dest, "one") });
    await p.create(COPY, { connection: target() as never, source: { [SIG]: ASSET, path: src } as never, remotePath: path.join(dest, "tree") });
    expect(fs.readFileSync(path.join(dest, "one"), "utf8")).toBe("content\n");
    expect(fs.readFileSync(path.join(dest, "tree", "sub", "f"), "utf8")).toBe("content\n");
    const failed = p.create(COPY, { connection: target() as never, source: { [SIG]: ASSET, path: path.join(src, "sub", "f") } as never, remotePath: "/nonexistent/dir/f" });
    await expect(failed).rejects.toThrow(/copying .* failed with exit code 1/);
    await expect(failed).rejects.not.toThrow(/cannot reach/);
  });

  describe("a provider process that is stopped mid-call", () => {
    let script = "";
    beforeAll(async () => {
      // The child runs this very module, bundled: one remote call, then waits to be stopped.
      const entry = path.join(root, "child.ts");
      fs.writeFileSync(
        entry,
        `import { runRemote } from ${JSON.stringify(path.join(__dirname, "ssh"))};\n` +
          "const c = JSON.parse(process.env.CUTOVER_TEST_CONNECTION!);\n" +
          "runRemote(c, process.env.CUTOVER_TEST_COMMAND!, undefined, {}).then((r) => console.log(JSON.stringify(r)));\n",
      );
      script = path.join(root, "child.js");
      const esbuild = await import("esbuild");
      await esbuild.build({ entryPoints: [entry], bundle: true, platform: "node", format: "cjs", outfile: script, logLevel: "silent" });
    }, 30_000);

    const startChild = (tmp: string, connection: Connection, command: string) =>
      spawn(process.execPath, [script], {
        env: { ...process.env, TMPDIR: tmp, CUTOVER_TEST_CONNECTION: JSON.stringify(connection), CUTOVER_TEST_COMMAND: command },
        stdio: "ignore",
      });
    const exited = (child: ChildProcess) => new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once("exit", () => resolve())));
    /** The call dir once the command runs: connection up, agent already gone. */
    const commandRunning = (tmp: string) => () => {
      const call = fs.readdirSync(tmp)[0];
      return !!call && fs.existsSync(path.join(tmp, call, "control")) && !fs.existsSync(path.join(tmp, call, "agent"));
    };

    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      it(`on ${signal}: the dir is removed, and the connection and agent are gone`, async () => {
        const tmp = useTmp(`sig-${signal}`);
        const child = startChild(tmp, viaGateway(), "sleep 30");
        await until("the command to run", commandRunning(tmp));
        child.kill(signal);
        await exited(child);
        expect(child.signalCode).toBe(signal);
        expect(fs.readdirSync(tmp)).toEqual([]);
        await until("no process left for the call", () => processesMentioning(tmp).length === 0, 5000);
      });
    }

    it("on SIGKILL while dialling: no key on disk, and the agent exits by itself within seconds", async () => {
      // A server that accepts and never speaks SSH: the dial hangs with the key in the agent.
      const silent = net.createServer(() => undefined);
      const sockets: net.Socket[] = [];
      silent.on("connection", (s) => sockets.push(s));
      await new Promise<void>((r) => silent.listen(0, TARGET, () => r()));
      const tmp = useTmp("sigkill");
      try {
        const child = startChild(tmp, target({ port: (silent.address() as net.AddressInfo).port, perDialTimeout: 60 }), "true");
        await until("the agent to hold the key", () => processesMentioning(tmp).some((p) => p.includes("ssh-agent")));
        await until("the dial to start", () => sockets.length > 0);
        child.kill("SIGKILL");
        await exited(child);
        for (const f of filesBelow(tmp)) {
          const text = fs.readFileSync(f, "utf8");
          expect(text.includes("PRIVATE KEY") || text.includes(keyBody), f).toBe(false);
        }
        await until("the orphaned agent to exit", () => !processesMentioning(tmp).some((p) => p.includes("ssh-agent")), 15_000);
      } finally {
        sockets.forEach((s) => s.destroy());
        silent.close();
      }
      // The orphaned dial ends when its server goes.
      await until("the orphaned dial to end", () => processesMentioning(tmp).length === 0, 5000);
    }, 30_000);
  });
});

// The pool against real SSH servers (ssh2's own Server, in this process, on loopback): a host
// reached through a gateway whose channel to the host ends the moment a command starts, as a
// host's sshd session killed mid-switch looks from the agent.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as net from "node:net";
import { Server, ServerChannel, utils } from "ssh2";
import { SshPool } from "./ssh-pool";

const keyPair = () => utils.generateKeyPairSync("ed25519");
const gatewayKey = keyPair();
const hostKey = keyPair();
const userKey = keyPair();
const pin = (k: { public: string }) => {
  const parsed = utils.parseKey(k.public);
  if (parsed instanceof Error) throw parsed;
  return `ssh-ed25519 ${parsed.getPublicSSH().toString("base64")}`;
};

/** Accepts the user's key; each exec goes to `onExec`, each forwarded channel to `onForward`. */
function sshServer(key: { private: string }, onExec: (accept: () => ServerChannel) => void, onForward: (accept: () => ServerChannel) => void = () => undefined): Server {
  return new Server({ hostKeys: [key.private] }, (conn) => {
    conn.on("authentication", (ctx) => (ctx.method === "publickey" ? ctx.accept() : ctx.reject(["publickey"])));
    conn.on("ready", () => {
      conn.on("session", (acceptSession) => acceptSession().on("exec", (accept) => onExec(accept)));
      conn.on("tcpip", (accept) => onForward(accept));
    });
    conn.on("error", () => undefined);
  });
}

describe("SshPool through a gateway", () => {
  let tcp: net.Server;
  /** The gateway's TCP connection of the newest client, and its channel to the host. */
  let gatewaySocket: net.Socket | undefined;
  let forwarded: ServerChannel | undefined;
  let dropOnExec = false;

  const host = sshServer(hostKey, (accept) => {
    const channel = accept();
    if (!dropOnExec) {
      channel.exit(0);
      channel.end();
      return;
    }
    // The exec's success and the end of the gateway's channel to the host leave in one write of
    // the gateway's socket: the agent reads them in one chunk, and Node emits the channel's
    // "end" and "close" before the caller's `await` resumes.
    gatewaySocket!.cork();
    forwarded!.end();
    forwarded!.close();
    setImmediate(() => gatewaySocket!.uncork());
  });
  // The gateway hands each forwarded channel to the host's server as its socket.
  const gateway = sshServer(gatewayKey, () => undefined, (accept) => {
    forwarded = accept();
    host.injectSocket(forwarded as never);
  });

  beforeAll(async () => {
    tcp = net.createServer((socket) => {
      gatewaySocket = socket;
      gateway.injectSocket(socket);
    });
    await new Promise<void>((r) => tcp.listen(0, "127.0.0.1", r));
  });

  afterAll(() => {
    tcp.close();
    gatewaySocket?.destroy();
  });

  const endpoint = () => ({
    address: "127.0.0.1",
    port: 22,
    user: "deploy",
    privateKey: userKey.private,
    hostKey: pin(hostKey),
    gateway: { address: "127.0.0.1", port: (tcp.address() as net.AddressInfo).port, user: "deploy", privateKey: userKey.private, hostKey: pin(gatewayKey) },
  });

  it("runs a command on the host through the gateway", async () => {
    const pool = new SshPool();
    dropOnExec = false;
    expect(await pool.run(endpoint(), "true", { limitSeconds: 30 })).toMatchObject({ code: 0, abnormal: undefined });
    pool.close();
  });

  it("a command whose connection ends as it starts comes back at once, not at its 30 s limit; the next one dials again", async () => {
    const pool = new SshPool();
    dropOnExec = true;
    const t0 = Date.now(); const r = await pool.run(endpoint(), "sleep 5", { limitSeconds: 30 }); console.log("RUN", Date.now() - t0, JSON.stringify(r));
    expect(r).toMatchObject({ code: 255, abnormal: "the connection closed before the command finished" });
    dropOnExec = false;
    expect(await pool.run(endpoint(), "true", { limitSeconds: 30 })).toMatchObject({ code: 0 });
    pool.close();
  }, 10_000);
});

/**
 * How steps and the program talk to the agent: one JSON object per line over a unix socket
 * in a directory only this user can enter. The socket's name carries a digest of the runner's
 * own code, so after an upgrade new steps never talk to an agent running older code (that one
 * simply idles out).
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { DeployContext } from "./context";

export type JobName = "prepare" | "migrate" | "cycle";

export type AgentRequest =
  | { op: "register"; context: DeployContext }
  /** `checkout`: the step's directory, with the key the identity of its deploy (DeployContext.checkout). */
  | { op: "run"; key: string; checkout: string; job: JobName; host?: string; release: string; redeploy?: string }
  | { op: "cancel" };

export type AgentReply = { type: "log"; stream: "stdout" | "stderr"; text: string } | { type: "done"; ok: boolean; message?: string };

function codeDigest(): string {
  const hash = createHash("sha256");
  for (const dir of [__dirname, path.join(__dirname, "..", "scripts")]) {
    for (const f of fs.readdirSync(dir).sort()) if (f.endsWith(".js")) hash.update(f).update(fs.readFileSync(path.join(dir, f)));
  }
  return hash.digest("hex").slice(0, 12);
}

/** The agent's directory (created 0700, and refused if anyone else could enter it) and socket. */
export function agentPaths(): { dir: string; socket: string } {
  const uid = process.getuid?.() ?? 0;
  const dir = process.env.CUTOVER_AGENT_DIR ?? path.join(process.env.XDG_RUNTIME_DIR ?? os.tmpdir(), `cutover-agent-${uid}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(dir);
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) {
    throw new Error(`${dir} must be a directory owned by uid ${uid} with mode 0700 (it holds the agent's socket); remove it or set CUTOVER_AGENT_DIR`);
  }
  return { dir, socket: path.join(dir, `agent-${codeDigest()}.sock`) };
}

export function send(socket: net.Socket, message: AgentRequest | AgentReply): void {
  if (!socket.destroyed) socket.write(`${JSON.stringify(message)}\n`);
}

export function readLines(socket: net.Socket, onLine: (line: string) => void): void {
  let buffer = "";
  socket.on("data", (d: Buffer) => {
    buffer += d.toString();
    let i: number;
    while ((i = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      if (line) onLine(line);
    }
  });
}

/**
 * Talking to the agent: connect (starting it, detached, when `start` is set and none runs),
 * send one request, stream what comes back.
 */
import { spawn } from "node:child_process";
import * as net from "node:net";
import * as path from "node:path";
import { AgentReply, AgentRequest, agentPaths, readLines, send } from "./protocol";

function tryConnect(socketPath: string): Promise<net.Socket | undefined> {
  return new Promise((resolve) => {
    const s = net.connect(socketPath);
    s.once("connect", () => resolve(s));
    s.once("error", () => resolve(undefined));
  });
}

function startAgent(): void {
  // Only what the agent needs from this environment: never the caller's secrets.
  const keep = Object.entries(process.env).filter(([k]) => /^(PATH|HOME|USER|LANG|LC_ALL|TMPDIR|XDG_RUNTIME_DIR|XDG_CACHE_HOME|CUTOVER_[A-Z_]+)$/.test(k));
  const child = spawn(process.execPath, [path.join(__dirname, "agent-main.js")], {
    detached: true,
    stdio: "ignore",
    env: Object.fromEntries(keep),
    cwd: "/",
  });
  child.unref();
}

export async function connectAgent(start: boolean): Promise<net.Socket> {
  const { socket } = agentPaths();
  const first = await tryConnect(socket);
  if (first) return first;
  if (!start) {
    throw new Error(
      "cutover: the deploy agent is not running, so this step has no deploy context (the program starts the agent and registers the deploy at the start of each `pulumi up`); run `pulumi up` again",
    );
  }
  startAgent();
  // The agent is ready when its socket accepts a connection.
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const s = await tryConnect(socket);
    if (s) return s;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`cutover: the deploy agent did not start listening on ${socket} within 10 s`);
}

/** Sends `request` and calls `onReply` for each reply until `done`; resolves with it. */
export function request(
  socket: net.Socket,
  req: AgentRequest,
  onReply: (r: AgentReply) => void = () => undefined,
): Promise<Extract<AgentReply, { type: "done" }>> {
  return new Promise((resolve, reject) => {
    let finished = false;
    readLines(socket, (line) => {
      const reply = JSON.parse(line) as AgentReply;
      if (reply.type === "done") {
        finished = true;
        socket.end();
        resolve(reply);
      } else onReply(reply);
    });
    socket.once("close", () => {
      if (!finished) reject(new Error("cutover: the deploy agent went away before the step finished; run `pulumi up` again"));
    });
    send(socket, req);
  });
}

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

/**
 * The variables the agent keeps from the environment that starts it: an allowlist, so the
 * caller's other secrets (GITHUB_TOKEN, PULUMI_ACCESS_TOKEN, PULUMI_CONFIG_PASSPHRASE, …) never
 * reach a process that lives on after the `up`.
 * - the basics: PATH, HOME (also where ~/.aws is), USER, locale, temp and runtime dirs, CUTOVER_*;
 * - AWS_*: the AWS SDK's own namespace, read by the target-group membership (credentials and
 *   session token, region, profile, config and credentials file paths, AWS_ENDPOINT_URL and
 *   AWS_ENDPOINT_URL_<SERVICE>, AWS_CA_BUNDLE, web identity and container credentials, retries);
 * - NODE_EXTRA_CA_CERTS: read by Node only at start, for a private CA in front of AWS;
 * - the proxy variables, either case.
 */
const AGENT_ENV =
  /^(PATH|HOME|USER|LANG|LC_ALL|TMPDIR|XDG_RUNTIME_DIR|XDG_CACHE_HOME|CUTOVER_[A-Z0-9_]+|AWS_[A-Z0-9_]+|NODE_EXTRA_CA_CERTS|HTTPS?_PROXY|https?_proxy|NO_PROXY|no_proxy)$/;

export function agentEnvironment(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => AGENT_ENV.test(e[0]) && e[1] !== undefined));
}

function startAgent(): void {
  const child = spawn(process.execPath, [path.join(__dirname, "agent-main.js")], {
    detached: true,
    stdio: "ignore",
    env: agentEnvironment(),
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
      if (!finished) reject(
          new Error(
            "cutover: the deploy agent went away before the step finished. The host's own job finishes (or restores) on its own; " +
              "a host it had taken out of the load balancer is put back by the balancer-side guard when its lease ends, or at once by the next `pulumi up`: run `pulumi up` again",
          ),
        );
    });
    send(socket, req);
  });
}

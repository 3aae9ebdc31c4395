/**
 * Called by the Pulumi program (the Deployment component) at the start of each `up`: hands the
 * deploy's context to the agent, starting the agent if needed. Nothing here touches a host.
 */
import type * as net from "node:net";
import { DeployContext } from "./context";
import { connectAgent, request } from "./client";

/**
 * Registers the deploy, then holds a second connection open for as long as the program lives
 * (the whole `up`: the program waits for its last resource): an agent with a connection open
 * never exits idle. Without it the agent left after a minute without steps, and a 64-host up
 * whose fleet took three minutes to provision failed its first prepares with "the deploy agent
 * is not running". The held socket is unref'd: it does not keep the program alive; when the
 * program ends (or is killed) it closes and the agent's idle minute starts. Returned for tests.
 */
export async function registerDeploy(context: DeployContext): Promise<net.Socket> {
  const socket = await connectAgent(true);
  const done = await request(socket, { op: "register", context });
  if (!done.ok) throw new Error(done.message ?? "cutover: the deploy agent refused the deploy context");
  const hold = await connectAgent(false);
  hold.on("error", () => undefined);
  hold.unref();
  return hold;
}

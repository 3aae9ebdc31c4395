/**
 * Called by the Pulumi program (the Deployment component) at the start of each `up`: hands the
 * deploy's context to the agent, starting the agent if needed. Nothing here touches a host.
 */
import { DeployContext } from "./context";
import { connectAgent, request } from "./client";

export async function registerDeploy(context: DeployContext): Promise<void> {
  const socket = await connectAgent(true);
  const done = await request(socket, { op: "register", context });
  if (!done.ok) throw new Error(done.message ?? "cutover: the deploy agent refused the deploy context");
}

#!/usr/bin/env node
/**
 * What a deploy step's command runs: `node step-main.js <prepare|migrate|cycle> <key> <release> [host] [redeploy]`.
 * It asks the agent to carry the step out, prints the step's output, and exits non-zero with
 * the step's message when it did not achieve its purpose. On Ctrl-C (SIGINT/SIGTERM) it asks
 * the agent to stop before the next switch and waits until the host is back in rotation, so
 * when `pulumi` exits no host is left hidden. A second signal ends it at once. If this process
 * is killed outright, the agent still finishes the host's cycle on its own.
 */
import { connectAgent, request } from "./client";
import { JobName } from "./protocol";
import { send } from "./protocol";

async function main(): Promise<number> {
  const [job, key, release, host, redeploy] = process.argv.slice(2);
  if (!["prepare", "migrate", "cycle"].includes(job) || !key || !release) {
    process.stderr.write("usage: step-main.js <prepare|migrate|cycle> <deploy key> <release id> [host] [redeploy nonce]\n");
    return 2;
  }
  const socket = await connectAgent(false);
  // First signal: ask the agent to start nothing new and wait until the host is back. A second
  // one (the engine gave up waiting, or a second Ctrl-C): leave at once; the agent finishes the
  // host's cycle on its own, so no step process is left behind waiting.
  let signals = 0;
  const stop = () => {
    if (++signals > 1) {
      process.stderr.write(`cutover: step stopped; the agent finishes ${host ?? "the host"}'s current cycle on its own (\`cutover status\` shows it)\n`);
      process.exit(130);
    }
    send(socket, { op: "cancel" });
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  const done = await request(socket, { op: "run", key, checkout: process.cwd(), job: job as JobName, host: host || undefined, release, redeploy: redeploy || undefined }, (r) => {
    if (r.type === "log") (r.stream === "stdout" ? process.stdout : process.stderr).write(r.text);
  });
  if (!done.ok) {
    process.stderr.write(`${done.message ?? "cutover: the step failed"}\n`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);

// The command line of a deploy step: `node <runner> <job> <deploy key> <release> [host] [nonce]`.
// It names only what the step means — which job, which deploy, which release, which host,
// an explicit redeploy nonce — so only a change of those makes Pulumi run it again. How to
// carry it out (connections, keys, who deploys, smoke tuning) reaches the runner through the
// agent (runner/register.ts), never through the command text.
import * as path from "node:path";
import * as pulumi from "../pulumi";
import { LocalCommand } from "./command";
import { sh } from "../scripts/quote";

/** The runner's entry, relative to the project directory the engine runs steps in. */
function runnerPath(): string {
  const abs = path.join(__dirname, "..", "runner", "step-main.js");
  const rel = path.relative(process.cwd(), abs);
  return rel.startsWith("..") ? abs : rel;
}

export interface StepArgs {
  job: "prepare" | "migrate" | "cycle";
  key: string;
  releaseId: pulumi.Input<string>;
  host: string;
  redeploy?: pulumi.Input<string | undefined>;
  /** Resolves once the deploy context is registered with the agent. */
  registered: pulumi.Output<boolean>;
}

export function stepCommand(name: string, a: StepArgs, opts: pulumi.CustomResourceOptions): LocalCommand {
  const text = pulumi
    .all([a.releaseId, a.registered, a.redeploy])
    .apply(([id, , redeploy]) => sh`node ${runnerPath()} ${a.job} ${a.key} ${id} ${a.host}` + (redeploy ? sh` ${redeploy}` : ""));
  return new LocalCommand(name, { create: text, update: text, addPreviousOutputInEnv: false, logging: "stdoutAndStderr" }, opts);
}

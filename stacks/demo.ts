// The main job (`npm run demo`): drives the `dev` stack of this project through the
// Automation API on the local file:// backend. Run through scripts/with-engine.sh so the
// project's engine is first on PATH.
import * as path from "node:path";
import { LocalWorkspace } from "@pulumi/pulumi/automation";

const projectDir = path.resolve(__dirname, "..", "..");

async function main(): Promise<void> {
  const started = Date.now();
  const stack = await LocalWorkspace.createOrSelectStack({ stackName: "dev", workDir: projectDir });
  console.log(`[demo] stack dev in ${projectDir} (backend ${process.env.PULUMI_BACKEND_URL ?? "default"})`);
  const up = await stack.up({ onOutput: (line) => process.stdout.write(line) });
  console.log(`[demo] up: ${up.summary.result}; message: ${up.outputs.message?.value}`);
  const down = await stack.destroy({ onOutput: (line) => process.stdout.write(line) });
  console.log(`[demo] destroy: ${down.summary.result}; total ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((err: unknown) => {
  console.error(`[demo] failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

// The main job (`npm run demo`): the dev stack of this project brought up on the local
// fleet through the Automation API, on the file:// backend set by scripts/with-engine.sh.
// `npm run demo -- --destroy` takes it down again.
import * as path from "node:path";
import { LocalWorkspace } from "@pulumi/pulumi/automation";

const projectDir = path.resolve(__dirname, "..", "..");
const destroy = process.argv.includes("--destroy");

const say = (line: string) => console.log(`[demo] ${line}`);
const seconds = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

async function main(): Promise<void> {
  const started = Date.now();
  const stack = await LocalWorkspace.createOrSelectStack({ stackName: "dev", workDir: projectDir });
  say(`stack dev of ${projectDir} (state in ${process.env.PULUMI_BACKEND_URL ?? "the default backend"})`);
  if (destroy) {
    const down = await stack.destroy({ onOutput: (l) => process.stdout.write(l) });
    say(`destroy ${down.summary.result} in ${seconds(started)}`);
    return;
  }
  const up = await stack.up({ onOutput: (l) => process.stdout.write(l) });
  const o = up.outputs;
  const hosts = o.hosts.value as Array<{ name: string; roles: string[]; address: string }>;
  say(`fleet up in ${seconds(started)}: ${hosts.length} hosts behind gateway ${o.gateway.value}`);
  for (const h of hosts) say(`  ${h.name.padEnd(8)} ${h.address.padEnd(12)} roles ${h.roles.join(",")}  (${(o.reachable.value as Record<string, string>)[h.name]})`);
  say(`load balancer listening on ${o.lbUrl.value}`);
  say("take it down with: npm run demo -- --destroy");
}

main().catch((err: unknown) => {
  console.error(`[demo] failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

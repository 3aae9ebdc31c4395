// `npm run bench`: the same deploy under the same wrk load, measured for each way of
// switching a fleet, on a fleet of its own (4 web hosts on 127.75.0.x, removed afterwards).
// Writes bench/results/latest.json: an array of runs.
import * as fs from "node:fs";
import * as path from "node:path";
import { projectDir } from "./app-config";
import { deployUnderLoad, fleetStack, setRelease } from "./driver";

const say = (line: string) => console.log(`[bench] ${line}`);
const hosts = ["web1", "web2", "web3", "web4"];
// The sample app waits a second before listening: real apps take that long to boot, or longer.
const fleet = { subnet: "127.75.0", hosts: hosts.map((name) => ({ name, roles: ["web"] })), appEnvironment: { START_DELAY_MS: "1000" } };

const variants: Array<{ tool: string; rollout: Record<string, unknown> }> = [
  { tool: "cutover: hidden cycling, batch 1", rollout: { batchSize: 1 } },
  { tool: "cutover: hidden cycling, batch 50%", rollout: { batchSize: "50%" } },
  { tool: "in-place restart one host at a time, no hiding", rollout: { batchSize: 1, hideFromLoadBalancer: false } },
  { tool: "in-place restart of all hosts at once, no hiding (Fabric-style)", rollout: { batchSize: "100%", hideFromLoadBalancer: false } },
];

async function main(): Promise<void> {
  const stack = await fleetStack("bench", fleet);
  const runs: Array<Record<string, unknown>> = [];
  try {
    await setRelease(stack, "1");
    const lbUrl = String((await stack.up()).outputs.lbUrl.value);
    let version = 1;
    for (const v of variants) {
      version += 1;
      say(`${v.tool}: deploying v${version} under load …`);
      const m = await deployUnderLoad(stack, lbUrl, String(version), v.rollout, () => undefined);
      runs.push({
        tool: v.tool,
        hosts: hosts.length,
        requests: m.requests,
        failed: m.failed,
        non2xx: m.non2xx,
        socketErrors: m.socketErrors,
        deployWallSeconds: m.deployWallSeconds,
        outOfRotationSeconds: m.outOfRotationSeconds,
        releaseId: m.releaseId,
        ...(m.error ? { error: m.error } : {}),
        load: "wrk -t2 -c16 through HAProxy on loopback",
        date: new Date().toISOString(),
      });
      say(`  ${m.requests} requests, ${m.failed} failed, ${m.deployWallSeconds} s`);
    }
  } finally {
    await stack.destroy().catch((e: Error) => say(`destroy failed: ${e.message}`));
  }
  const out = path.join(projectDir, "bench", "results", "latest.json");
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(runs, null, 2) + "\n");
  say(`wrote ${out}`);
}

main().catch((err: unknown) => {
  console.error(`[bench] failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

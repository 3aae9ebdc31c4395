// The main job (`npm run demo`): provisions the demo's local fleet (4 web hosts, 1 worker,
// a gateway and HAProxy on 127.76.0.x), deploys sample-app v1, then cycles the fleet to v2
// while wrk loads the load balancer, printing each host's progress and a summary.
// `npm run demo -- --destroy` removes the fleet (no process, no file left).
import { projectDir } from "./app-config";
import { deployUnderLoad, fleetStack, setRelease } from "./driver";

const destroy = process.argv.includes("--destroy");
const say = (line: string) => console.log(`[demo] ${line}`);
// The sample app waits a second before listening: real apps take that long to boot, or longer.
const fleet = {
  appEnvironment: { START_DELAY_MS: "1000" },
  subnet: "127.76.0",
  hosts: [
    ...["web1", "web2", "web3", "web4"].map((name) => ({ name, roles: ["web"] })),
    { name: "worker1", roles: ["worker"] },
  ],
};

async function main(): Promise<void> {
  const started = Date.now();
  const stack = await fleetStack("demo", fleet);
  say(`stack demo of ${projectDir}; state in ${process.env.PULUMI_BACKEND_URL ?? "the default backend"}`);
  if (destroy) {
    const down = await stack.destroy();
    say(`destroy ${down.summary.result}: the demo fleet is gone`);
    return;
  }

  say("1/2  provisioning the fleet and deploying sample-app v1 …");
  await setRelease(stack, "1");
  const first = await stack.up();
  const o = first.outputs;
  say(`     fleet up, v1 = ${o.releaseId.value} on every host (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  for (const h of o.hosts.value as Array<{ name: string; roles: string[]; address: string }>) {
    say(`       ${h.name.padEnd(8)} ${h.address.padEnd(12)} ${h.roles.join(",").padEnd(7)} via gateway ${o.gateway.value}`);
  }
  say(`     load balancer: ${o.lbUrl.value}`);
  for (const line of o.rolloutPlan.value as string[]) say(`     plan: ${line}`);

  say("2/2  cycling the fleet to v2 under load (wrk, 16 connections) …");
  const m = await deployUnderLoad(stack, String(o.lbUrl.value), "2", {}, (line) => say(`     ${line}`));
  say("");
  say(`summary: release ${m.releaseId || "(failed)"}`);
  say(`  requests through the load balancer during the deploy: ${m.requests}`);
  say(`  failed requests (non-2xx + socket errors): ${m.failed}`);
  say(`  deploy wall time: ${m.deployWallSeconds} s (first host out of rotation after ${m.secondsBeforeFirstHide?.toFixed(1) ?? "–"} s)`);
  say(`  SSH handshakes: ${m.sshHandshakes}, remote commands: ${m.remoteCommands}, uploads: ${m.uploads}`);
  for (const [host, s] of Object.entries(m.outOfRotationSeconds)) say(`  ${host} out of rotation: ${s.toFixed(1)} s`);
  if (m.error) say(`  deploy error: ${m.error}`);
  say(`the fleet keeps running on ${o.lbUrl.value}; remove it with: npm run demo -- --destroy`);
  if (m.error || m.failed > 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(`[demo] failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

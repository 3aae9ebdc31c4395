// The main job (`npm run demo`): provisions the demo's local fleet (4 web hosts, 1 worker,
// a gateway and HAProxy on 127.76.0.x), deploys sample-app v1, then cycles the fleet to v2
// while wrk loads the load balancer, printing each host's progress and a summary.
// `npm run demo -- --strategy overlap` does the same on a fleet with a standby slot per host
// (its own stack, demo-overlap, on 127.73.0.x): v2 starts beside v1 and takes the traffic, then
// a rollback to v1 only moves the traffic back; it prints the capacity and the rollback time.
// `npm run demo -- --destroy [--strategy overlap]` removes the fleet (no process, no file left).
import { parseArgs } from "node:util";
import { projectDir } from "./project-dir";
import { DeployMeasure, deployUnderLoad, fleetAdminSocket, fleetStack, setRelease } from "./driver";
import { latestDeployEvents } from "../lib/runner/events";

const say = (line: string) => console.log(`[demo] ${line}`);
const cli = (() => {
  try {
    return parseArgs({ options: { destroy: { type: "boolean", default: false }, strategy: { type: "string", default: "cycle" } } }).values;
  } catch (e) {
    console.error(`[demo] ${(e as Error).message} (options: --strategy cycle|overlap, --destroy)`);
    process.exit(2);
  }
})();
if (cli.strategy !== "cycle" && cli.strategy !== "overlap") {
  console.error(`[demo] --strategy ${cli.strategy}: use cycle (hide, restart, put back) or overlap (start beside the old release)`);
  process.exit(2);
}
const overlap = cli.strategy === "overlap";
const destroy = cli.destroy;
const stackName = overlap ? "demo-overlap" : "demo";
// The sample app waits a second before listening: real apps take that long to boot, or longer.
const fleet = {
  appEnvironment: { START_DELAY_MS: "1000" },
  subnet: overlap ? "127.73.0" : "127.76.0",
  ...(overlap ? { standby: true } : {}),
  hosts: [
    ...["web1", "web2", "web3", "web4"].map((name) => ({ name, roles: ["web"] })),
    { name: "worker1", roles: ["worker"] },
  ],
};

async function main(): Promise<void> {
  const started = Date.now();
  const stack = await fleetStack(stackName, fleet);
  const rollout = overlap ? { strategy: "overlap" } : {};
  const capacity = { socket: fleetAdminSocket(stackName), backend: "web", hosts: 4 };
  say(`stack ${stackName} of ${projectDir}; state in ${process.env.PULUMI_BACKEND_URL ?? "the default backend"}`);
  if (destroy) {
    const down = await stack.destroy();
    say(`destroy ${down.summary.result}: the demo fleet is gone`);
    return;
  }

  say("1/2  provisioning the fleet and deploying sample-app v1 …");
  await setRelease(stack, "1", rollout);
  const first = await stack.up();
  const o = first.outputs;
  say(`     fleet up, v1 = ${o.releaseId.value} on every host (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  for (const h of o.hosts.value as Array<{ name: string; roles: string[]; address: string }>) {
    say(`       ${h.name.padEnd(8)} ${h.address.padEnd(12)} ${h.roles.join(",").padEnd(7)} via gateway ${o.gateway.value}`);
  }
  say(`     load balancer: ${o.lbUrl.value}`);
  for (const line of o.rolloutPlan.value as string[]) say(`     plan: ${line}`);

  say(`2/${overlap ? 3 : 2}  ${overlap ? "starting v2 beside v1 on every host and moving the traffic" : "cycling the fleet to v2"} under load (wrk, 16 connections) …`);
  const m = await deployUnderLoad(stack, String(o.lbUrl.value), "2", rollout, (line) => say(`     ${line}`), { capacity });
  let back: DeployMeasure | undefined;
  if (overlap && !m.error) {
    say("3/3  rolling back to v1 while it is still warm: the traffic moves back, nothing restarts …");
    back = await deployUnderLoad(stack, String(o.lbUrl.value), "1", rollout, (line) => say(`     ${line}`), { capacity, release: String(o.releaseId.value) });
  }
  say("");
  say(`summary: release ${m.releaseId || "(failed)"}`);
  say(`  requests through the load balancer during the deploy: ${m.requests}`);
  say(`  failed requests (non-2xx + socket errors): ${m.failed}`);
  say(`  deploy wall time: ${m.deployWallSeconds} s (first host out of rotation after ${m.secondsBeforeFirstHide?.toFixed(1) ?? "–"} s)`);
  say(`  SSH handshakes: ${m.sshHandshakes}, remote commands: ${m.remoteCommands}, uploads: ${m.uploads}`);
  for (const [host, s] of Object.entries(m.outOfRotationSeconds)) say(`  ${host} out of rotation: ${s.toFixed(1)} s`);
  say(`  capacity: fewest servers serving ${m.fewestServing ?? "–"} of 4, ${m.secondsBelowCapacity ?? "–"} s below 4 (HAProxy sampled every 100 ms)`);
  if (m.error) say(`  deploy error: ${m.error}`);
  if (back) {
    const moves = latestDeployEvents(`cutover/${stackName}/app`).flatMap((e) => (e.kind === "phase" && (e.phase === "unhide" || e.phase === "in-rotation") ? [e.t] : []));
    const moved = moves.length ? ((Math.max(...moves) - Math.min(...moves)) / 1000).toFixed(2) : "–";
    say(`rollback to v1 (${back.releaseId || "failed"}): ${back.deployWallSeconds} s for the whole \`pulumi up\` (${(back.deployWallSeconds / m.deployWallSeconds).toFixed(2)}× the deploy it undid), traffic moved on every host within ${moved} s`);
    say(`  failed requests: ${back.failed} of ${back.requests}; capacity: fewest serving ${back.fewestServing ?? "–"} of 4, ${back.secondsBelowCapacity ?? "–"} s below`);
    if (back.error) say(`  rollback error: ${back.error}`);
  }
  say(`the fleet keeps running on ${o.lbUrl.value}; remove it with: npm run demo -- --destroy${overlap ? " --strategy overlap" : ""}`);
  if (m.error || m.failed > 0 || back?.error || (back?.failed ?? 0) > 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(`[demo] failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

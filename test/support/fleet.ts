// Reaching a local fleet from a test the way an operator would: the system's ssh client,
// through the gateway, with the stack's pinned host keys and deploy key.
import * as fs from "node:fs";
import { OutputMap } from "@pulumi/pulumi/automation";
import { Connection, runRemote } from "../../lib/engine/command-provider/ssh";
import { RunResult } from "../../lib/engine/command-provider/run";
import { sh } from "../../lib/scripts/quote";
import { LoadResult, startLoad } from "../../stacks/load";

export interface FleetAccess {
  connection(host: string): Connection;
  run(host: string, script: string): Promise<RunResult>;
  /** Runs and fails the test with the host's stderr when the command fails. */
  must(host: string, script: string): Promise<string>;
}

/**
 * What the app on a local-fleet host answers on /healthz (its release id), asked on the host
 * itself: host i of `hosts` listens on <subnet>.<10 + i>:8080.
 */
export async function servedRelease(fleet: FleetAccess, subnet: string, hosts: readonly string[], host: string): Promise<string> {
  return (await fleet.must(host, sh`curl -fsS --max-time 5 ${`http://${subnet}.${10 + hosts.indexOf(host)}:8080/healthz`}`)).trim();
}

export function fleetAccess(outputs: OutputMap): FleetAccess {
  const ssh = outputs.ssh.value as {
    user: string;
    gateway: { address: string; port: number; hostKey: string };
    hosts: Record<string, { address: string; port: number; hostKey: string }>;
  };
  const privateKey = outputs.deployKey.value as string;
  const connection = (host: string): Connection => {
    const h = ssh.hosts[host];
    if (!h) throw new Error(`no host ${host} in the stack's outputs`);
    return {
      host: h.address,
      port: h.port,
      user: ssh.user,
      privateKey,
      hostKey: h.hostKey,
      proxy: { host: ssh.gateway.address, port: ssh.gateway.port, user: ssh.user, privateKey, hostKey: ssh.gateway.hostKey },
    };
  };
  const run = (host: string, script: string) => runRemote(connection(host), script, undefined, {});
  return {
    connection,
    run,
    async must(host, script) {
      const r = await run(host, script);
      if (r.code !== 0) throw new Error(`${host}: exit ${r.code}: ${r.stderr}`);
      return r.stdout;
    },
  };
}

/** Every live process but this one, with its command line (arguments joined by spaces). */
export function processes(): Array<{ pid: number; cmdline: string }> {
  const found: Array<{ pid: number; cmdline: string }> = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").join(" ").trim();
      if (cmdline) found.push({ pid: Number(entry), cmdline });
    } catch {
      /* gone */
    }
  }
  return found;
}

/** Processes of a fleet: their command line mentions its dir, or they run inside it. */
export function fleetProcesses(dir: string): Array<{ pid: number; cmdline: string }> {
  return processes().filter(({ pid, cmdline }) => {
    if (cmdline.includes(dir)) return true;
    try {
      const cwd = fs.readlinkSync(`/proc/${pid}/cwd`);
      return cwd === dir || cwd.startsWith(`${dir}/`);
    } catch {
      return false; // a process may exit while we look
    }
  });
}

/** HAProxy's view of a backend, read over SSH on the LB host through its runtime API. */
export async function backendStatus(fleet: FleetAccess, adminSocket: string, backend: string): Promise<Record<string, string>> {
  const csv = await fleet.must("lb", sh`echo 'show stat' | socat stdio ${`unix-connect:${adminSocket}`}`);
  const rows = csv.split("\n").filter((l) => l.startsWith(`${backend},`));
  return Object.fromEntries(
    rows.map((l) => l.split(",")).filter((f) => f[1] !== "BACKEND").map((f) => [f[1], f[17]]),
  );
}

/** How many SSH logins a local-fleet host's sshd has accepted so far. */
export function sshLogins(fleetDir: string, host: string): number {
  return fs.readFileSync(`${fleetDir}/${host}/ssh/sshd.log`, "utf8").split("\n").filter((l) => l.includes("Accepted publickey")).length;
}

/** Pids of every process below `pid` (an sshd's sessions). */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (state === "Z") continue; // exited; a stopped parent cannot reap it
      children.set(Number(ppid), [...(children.get(Number(ppid)) ?? []), Number(entry)]);
    } catch {
      /* gone */
    }
  }
  const found: number[] = [];
  const walk = (p: number) => (children.get(p) ?? []).forEach((c) => (found.push(c), walk(c)));
  walk(pid);
  return found;
}

/**
 * The load the end-to-end tests put on the balancer: wrk 2×16 connections, each pausing 10 ms
 * between requests (up to ~3,000 requests a second: a host wrongly in rotation fails requests
 * within milliseconds), rather than as fast as two cores allow, which starved the deploy under
 * test of CPU and made every file several times slower.
 */
export const E2E_LOAD = { pauseMs: 10 };

/**
 * Runs `action` (a deploy) while E2E_LOAD goes through the balancer: the load runs a second
 * before it and a second after, so the first host's move and the last one's return are inside.
 * Returns the load's totals, the action's error (if any) and its wall time.
 */
export async function underLoad(url: string, action: () => Promise<unknown>): Promise<{ load: LoadResult; error?: string; seconds: number }> {
  const load = startLoad(url, { ...E2E_LOAD, maxSeconds: 240 });
  await new Promise((r) => setTimeout(r, 1000));
  let error: string | undefined;
  const started = Date.now();
  try {
    await action();
  } catch (e) {
    error = (e as Error).message;
  }
  const seconds = (Date.now() - started) / 1000;
  await new Promise((r) => setTimeout(r, 1000));
  return { load: await load.stop(), error, seconds };
}

#!/usr/bin/env node
// `cutover`: deploy, history, rollback, status, unlock and report for a stack whose program
// uses Cutover's Deployment, through the pulumi CLI (the project in --cwd, the stack from
// --stack or the selected one, like pulumi). Exit 0 on success, 1 on a failure
// (with what to run next), 2 on a usage mistake.
import * as fs from "node:fs";
import * as path from "node:path";
import { CliError, OptionSpec, Parsed, UsageError, optionHelp, parseArgs, positiveInt, str } from "./args";
import { allConfig, appConfig, appConfigSetting, configValue, firstLine, openStack, StackRef } from "./workspace";
import { checkpointReleases, historyRows, historyTable, successfulReleases } from "./history";
import { webhookFromConfig, webhookNotifier } from "./notify";
import { defaultDeployer, readEngineRecords, runUpdate } from "./update";
import { age, fleetFromOutputs, haproxyStates, hostProbe, lockHolderText, parseProbe, HostState } from "./fleet";
import { describePending, fileBackendRoot, inProgress, lockVerdict, PendingOp, stackLocks } from "./unlock";
import { renderReport } from "./report";
import { DeployEvent, eventLogPath, latestDeployEvents } from "../runner/events";

const print = (line: string) => console.log(line);
const warn = (line: string) => console.error(line);

const COMMON: Record<string, OptionSpec> = {
  stack: { value: true, arg: "NAME", help: "the stack (default: the selected stack, as pulumi)" },
  cwd: { value: true, arg: "DIR", help: "the Pulumi project's directory (default: the current directory)" },
  deployment: { value: true, arg: "NAME", help: "name of the Deployment component in the program (default: app)" },
  help: { help: "show this help" },
};

interface Command {
  summary: string;
  usage: string;
  details: string;
  options: Record<string, OptionSpec>;
  run(p: Parsed): Promise<number>;
}

const stackOf = (p: Parsed) => openStack({ cwd: str(p, "cwd"), stack: str(p, "stack"), deployment: str(p, "deployment") });

async function requireApp(ref: StackRef): Promise<Record<string, unknown>> {
  const app = await appConfig(ref);
  if (!app) {
    throw new CliError(
      `cutover: stack ${ref.name} has no cutover:app config, so there is nothing to deploy: set it in Pulumi.${ref.name}.yaml (see the README, "Using it") or with \`pulumi config set --path cutover:app.version 1 --stack ${ref.name}\``,
    );
  }
  return app;
}

async function notifierOf(ref: StackRef) {
  return webhookNotifier(webhookFromConfig(await allConfig(ref), warn), warn);
}

async function currentRelease(ref: StackRef): Promise<string | undefined> {
  const outputs = await ref.stack.outputs().catch(() => ({}) as Record<string, { value: unknown }>);
  const id = outputs.releaseId?.value;
  return typeof id === "string" && id ? id : undefined;
}

function deployRecords(key: string): Array<Extract<DeployEvent, { kind: "deploy" }>> {
  try {
    return fs
      .readFileSync(eventLogPath(key), "utf8")
      .split("\n")
      .filter((l) => l.includes('"kind":"deploy"'))
      .map((l) => JSON.parse(l) as Extract<DeployEvent, { kind: "deploy" }>);
  } catch {
    return [];
  }
}

/** The stack's updates as history rows, newest first; `pageSize`: only the newest that many. */
async function stackHistory(ref: StackRef, pageSize?: number) {
  // The backend's URL, for the checkpoints of a file backend: asked of the CLI only when the
  // environment does not name it (scripts/engine-env.sh does).
  const [updates, url] = await Promise.all([ref.stack.history(pageSize), ref.stack.backendUrl()]);
  const rows = historyRows(updates, checkpointReleases(url, ref.project, ref.name, pageSize), deployRecords(ref.key));
  return { rows, complete: !pageSize || updates.length < pageSize };
}

/**
 * Distinct successful releases, newest first, at least `wanted` of them when the history has
 * that many: the newest updates are read first (a rollback needs two), all of them only when
 * those are too few.
 */
async function recentReleases(ref: StackRef, wanted: number): Promise<string[]> {
  const recent = await stackHistory(ref, Math.max(20, 5 * wanted));
  const releases = successfulReleases(recent.rows);
  return releases.length >= wanted || recent.complete ? releases : successfulReleases((await stackHistory(ref)).rows);
}

const commands: Record<string, Command> = {
  deploy: {
    summary: "deploy the stack's app (pulumi up) with live per-host progress and a summary",
    usage: "cutover deploy [--release LABEL] [--message M] [--verbose] [--stack NAME] [--cwd DIR]",
    details:
      "Runs `pulumi up` on the stack. --release sets the version label of cutover:app (part of the release id);\n" +
      "a rollback target left in cutover:app.release is cleared, so the app is built from its source again.\n" +
      "Prints each host's phases as they happen (batch, host, preparing / out of rotation / switching and\n" +
      "smoke-testing / back in rotation, seconds since the start) and a summary; records the update for\n" +
      "`cutover report`; sends notifications when cutover:notify.webhook is set (a secret).",
    options: {
      release: { value: true, arg: "LABEL", help: "version label to deploy (sets cutover:app.version)" },
      message: { value: true, arg: "M", help: "message recorded with the update in the stack's history" },
      verbose: { help: "also print Pulumi's own output" },
      ...COMMON,
    },
    async run(p) {
      const ref = await stackOf(p);
      const [app, previousRelease] = await Promise.all([requireApp(ref), currentRelease(ref)]);
      const before = JSON.stringify(app);
      const label = str(p, "release");
      if (label) app.version = label;
      if (typeof app.release === "string") {
        print(`cutover:app.release was ${app.release} (a rollback target); deploying from source again`);
        delete app.release;
      }
      const out = await runUpdate(ref, {
        kind: "deploy",
        label: `version ${String(app.version ?? "?")}`,
        config: JSON.stringify(app) !== before ? appConfigSetting(app) : undefined,
        previousRelease,
        message: str(p, "message"),
        deployer: defaultDeployer(app),
        verbose: p.verbose === true,
        print,
        notifier: await notifierOf(ref),
      });
      return out.ok ? 0 : 1;
    },
  },

  rollback: {
    summary: "go back to an earlier release still on the hosts (swaps only, no build, no upload)",
    usage: "cutover rollback [--to RELEASE_ID | --steps K] [--message M] [--verbose] [--stack NAME] [--cwd DIR]",
    details:
      "Default: the release deployed successfully before the current one, from the stack's history\n" +
      "(`cutover history`). --steps K goes K distinct releases back; --to names one. Sets\n" +
      "cutover:app.release and runs the update: each host's prepare only checks the release is there\n" +
      "(it fails listing the ids it has otherwise), then the batches swap `current` and smoke-test.\n" +
      "`cutover deploy` afterwards builds from source again.",
    options: {
      to: { value: true, arg: "RELEASE_ID", help: "the release to go back to" },
      steps: { value: true, arg: "K", help: "go back K distinct successful releases (default 1)" },
      message: { value: true, arg: "M", help: "message recorded with the update" },
      verbose: { help: "also print Pulumi's own output" },
      ...COMMON,
    },
    async run(p) {
      if (str(p, "to") && str(p, "steps")) throw new UsageError("give --to or --steps, not both");
      const steps = positiveInt(p, "steps") ?? 1;
      const ref = await stackOf(p);
      const [app, releases] = await Promise.all([requireApp(ref), recentReleases(ref, steps + 1)]);
      // The newest successful update's release is what the stack's releaseId output says; the
      // outputs (one more CLI run) are read only for a stack whose history names none.
      const current = releases[0] ?? (await currentRelease(ref));
      let target = str(p, "to");
      if (target !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(target)) {
        throw new UsageError(`--to ${JSON.stringify(target)} is not a release id (\`cutover history ${ref.flags}\` lists them)`);
      }
      if (!target) {
        const earlier = releases.filter((r) => r !== current);
        target = earlier[steps - 1];
        if (!target) {
          throw new CliError(
            `cutover: the stack's history has ${earlier.length ? `only ${earlier.length} successful release(s)` : "no successful release"} before the current one (${current ?? "none"}), so there is nothing ${steps} step(s) back. ` +
              `\`cutover history ${ref.flags}\` lists the releases; pass one with --to <id>.`,
          );
        }
      }
      if (target === current && app.release === target) {
        print(`${ref.project}/${ref.name} is already on ${target}: nothing to roll back`);
        return 0;
      }
      app.release = target;
      const out = await runUpdate(ref, {
        kind: "rollback",
        label: target,
        config: appConfigSetting(app),
        release: target,
        previousRelease: current,
        message: str(p, "message") ?? `rollback to ${target}`,
        deployer: defaultDeployer(app),
        verbose: p.verbose === true,
        print,
        notifier: await notifierOf(ref),
      });
      if (!out.ok) print(`cutover:app.release stays ${target}: \`cutover rollback ${ref.flags} --to <id>\` picks another, \`cutover deploy ${ref.flags}\` deploys from source`);
      return out.ok ? 0 : 1;
    },
  },

  history: {
    summary: "the stack's updates: when, who, result, duration, release id, message",
    usage: "cutover history [--limit N] [--json] [--stack NAME] [--cwd DIR]",
    details:
      "From the stack's own history (`pulumi stack history`), newest first. The release id is the stack\n" +
      "output releaseId after each update (file backends keep it per update), the rollback target in\n" +
      "its config, or the release the runner registered during it (this machine's event log).",
    options: {
      limit: { value: true, arg: "N", help: "show the last N updates only" },
      json: { help: "print JSON instead of a table" },
      ...COMMON,
    },
    async run(p) {
      const limit = positiveInt(p, "limit");
      const ref = await stackOf(p);
      const rows = (await stackHistory(ref, limit)).rows.slice(0, limit);
      if (p.json) {
        print(JSON.stringify(rows, null, 2));
        return 0;
      }
      if (!rows.length) {
        print(`${ref.project}/${ref.name} has no updates yet: \`cutover deploy ${ref.flags}\``);
        return 0;
      }
      print(historyTable(rows));
      return 0;
    },
  },

  status: {
    summary: "per host: the release `current` points to, what /healthz serves, load-balancer state, lock",
    usage: "cutover status [--json] [--stack NAME] [--cwd DIR]",
    details:
      "Reads every host over SSH (through the gateway, pinned host keys, the stack's deploy key):\n" +
      "where `current` points, the answer of the smoke-test path on the host, the host lock (held or\n" +
      "not, by `flock -n`; its holder and age when held) and HAProxy's state of the host.",
    options: { json: { help: "print JSON instead of a table" }, ...COMMON },
    async run(p) {
      const ref = await stackOf(p);
      const outputs = await ref.stack.outputs();
      const app = (await appConfig(ref)) ?? {};
      const fleetCfg = ((await configValue(ref, "cutover:fleet")) ?? {}) as { appPort?: number };
      const fleet = fleetFromOutputs(outputs, { appPort: fleetCfg.appPort ?? 8080 }, ref.flags);
      const healthPath = ((app.rollout as { smoke?: { path?: string } } | undefined)?.smoke?.path ?? "/healthz").toString();
      const [states, lb] = await Promise.all([
        Promise.all(
          fleet.hosts.map((h) =>
            fleet.run(h.name, hostProbe(h, healthPath)).then(
              (r) => parseProbe(h.name, r),
              (e: Error): HostState => ({ host: h.name, reachable: false, error: e.message }),
            ),
          ),
        ),
        haproxyStates(fleet),
      ]);
      const release = typeof outputs.releaseId?.value === "string" ? (outputs.releaseId.value as string) : undefined;
      // An overlap host's balancer state is its serving slot's server's.
      const serverOf = (h: (typeof fleet.hosts)[number], s: HostState) => (s.slot === "b" && h.standby ? h.standby.server : h.name);
      const rows = fleet.hosts.map((h, i) => ({ ...states[i], roles: h.roles, loadBalancer: lb.states[serverOf(h, states[i])] }));
      if (p.json) {
        print(JSON.stringify({ stack: ref.name, release, hosts: rows, loadBalancerError: lb.error }, null, 2));
      } else {
        const lockText = (s: HostState) =>
          !s.lock ? "?" : s.lock.held ? `HELD by ${s.lock.owner ?? "?"} (${s.lock.step ?? "?"} of ${s.lock.release ?? "?"}, ${lockHolderText(s.lock)}) for ${age(s.lock.time)}` : "free";
        const table = [
          ["host", "roles", "current", `serves ${healthPath}`, "load balancer", "lock"],
          ...rows.map((r) =>
            r.reachable
              ? [r.host, r.roles.join(","), r.current ?? "(none)", `${r.serves ?? "?"}${r.slot ? ` (slot ${r.slot})` : ""}`, r.loadBalancer ?? "-", lockText(r)]
              : [r.host, r.roles.join(","), "UNREACHABLE", r.error ?? "", r.loadBalancer ?? "-", "?"],
          ),
        ];
        const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
        for (const row of table) print(row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]))).join("  "));
        if (lb.error) print(`load balancer: ${lb.error}`);
        const off = rows.filter((r) => r.reachable && release && r.current !== release);
        print(
          release
            ? off.length
              ? `the stack's release is ${release}; not on it: ${off.map((r) => `${r.host} (${r.current ?? "none"})`).join(", ")} — \`cutover deploy ${ref.flags}\` converges them`
              : `every reachable host is on the stack's release ${release}`
            : "the stack has no releaseId output yet",
        );
      }
      const unreachable = rows.filter((r) => !r.reachable);
      if (unreachable.length) {
        warn(`cutover: cannot reach ${unreachable.map((r) => r.host).join(", ")}: check the fleet (for the local fleet, \`cutover deploy ${ref.flags}\` restarts dead daemons)`);
        return 1;
      }
      return 0;
    },
  },

  unlock: {
    summary: "after a killed update: check none runs, then clear the stack lock and pending operations",
    usage: "cutover unlock [--force] [--stack NAME] [--cwd DIR]",
    details:
      "Refuses while an update of the stack is running (a live pulumi process holding the stack lock on\n" +
      "this machine, or an update the backend shows in progress). Otherwise removes the stack lock\n" +
      "(`pulumi cancel`) and the pending operations the killed update left in the state (export,\n" +
      "drop them, import), and lists each. Host locks are flock locks freed when their process ends:\n" +
      "never stale, so they are reported when held, not removed. --force: also when the lock was taken\n" +
      "on another machine (which this one cannot check).",
    options: { force: { help: "remove a stack lock taken on another machine too" }, ...COMMON },
    async run(p) {
      const ref = await stackOf(p);
      const force = p.force === true;
      const root = fileBackendRoot(await ref.stack.backendUrl());
      const refusals: string[] = [];
      const removed: string[] = [];
      const locks = root ? stackLocks(root, ref.project, ref.name) : [];
      for (const l of locks) {
        const v = lockVerdict(l);
        if (v.running && (v.certain || !force)) refusals.push(v.why + (v.certain ? "" : "; if it is gone, run again with --force"));
      }
      let backendRunning = false;
      if (!root) {
        const ip = inProgress(await ref.stack.history(1));
        if (ip) {
          backendRunning = true;
          if (!force) refusals.push(`the backend shows update ${ip.version} in progress since ${new Date(ip.startTime).toISOString()}; if it was killed, run again with --force`);
        }
      }
      // Host locks: reported, never removed.
      const hostLines: string[] = [];
      try {
        const outputs = await ref.stack.outputs();
        if (outputs.ssh && outputs.deployKey && outputs.hosts) {
          const fleet = fleetFromOutputs(outputs, { appPort: 8080 }, ref.flags);
          const states = await Promise.all(fleet.hosts.map((h) => fleet.run(h.name, hostProbe(h, "/")).then((r) => parseProbe(h.name, r))));
          for (const s of states) {
            if (!s.reachable) hostLines.push(`  ${s.host}: unreachable (${s.error}); its lock could not be checked`);
            else if (s.lock?.held) {
              hostLines.push(
                `  ${s.host}: lock held by ${s.lock.owner ?? "?"} (${s.lock.step ?? "?"} of ${s.lock.release ?? "?"}, ${lockHolderText(s.lock)}) for ${age(s.lock.time)} — a step still running there; it frees itself when it ends (not removed)`,
              );
            }
          }
        }
      } catch (e) {
        hostLines.push(`  host locks not checked: ${firstLine((e as Error).message)}`);
      }
      if (refusals.length) {
        for (const r of refusals) print(`cutover: not unlocking: ${r}`);
        for (const l of hostLines) print(l);
        print("nothing was removed; wait for that update to end (or stop it: Ctrl-C in its terminal, `kill -INT <pid>`), then run `cutover unlock` again");
        return 1;
      }
      if (locks.length || backendRunning) {
        await ref.stack.cancel();
        if (locks.length) for (const l of locks) removed.push(`stack lock ${l.file} (taken by ${l.username}@${l.hostname}, pid ${l.pid}, ${l.timestamp}; that process is gone)`);
        else removed.push("the backend's in-progress update (pulumi cancel)");
      }
      const state = await ref.stack.exportState();
      const d = state.deployment as { pending_operations?: PendingOp[] } | undefined;
      const pending = d?.pending_operations ?? [];
      if (d && pending.length) {
        d.pending_operations = [];
        await ref.stack.importState(state);
        for (const op of pending) removed.push(`pending operation: ${describePending(op)}`);
      }
      if (removed.length) {
        print(`cutover: unlocked ${ref.project}/${ref.name}; removed:`);
        for (const r of removed) print(`  ${r}`);
      } else print(`cutover: ${ref.project}/${ref.name} has no stack lock and no pending operation: nothing to remove`);
      if (hostLines.length) {
        print("host locks:");
        for (const l of hostLines) print(l);
      } else print("host locks: none held");
      if (removed.length) print(`next: \`cutover deploy ${ref.flags}\` finishes the rollout (hosts already on the release are left alone)`);
      return 0;
    },
  },

  report: {
    summary: "an HTML file with a timeline of the last deploy: one row per host, its phases, batches, failures",
    usage: "cutover report [--out FILE] [--stack NAME] [--cwd DIR]",
    details:
      "Draws the last deploy of the stack recorded on this machine (the runner's event log): per host,\n" +
      "prepare, migrate, hidden, switch + smoke test and back into rotation, where each batch starts,\n" +
      "failures with their reason, and the totals. The file is self-contained (inline SVG, no script).",
    options: { out: { value: true, arg: "FILE", help: "where to write it (default: ./cutover-report-<stack>.html)" }, ...COMMON },
    async run(p) {
      const ref = await stackOf(p);
      const events = latestDeployEvents(ref.key);
      if (!events.some((e) => e.kind === "deploy")) {
        throw new CliError(`cutover: no deploy of ${ref.key} is recorded on this machine (${eventLogPath(ref.key)}): run \`cutover deploy ${ref.flags}\` first`);
      }
      const start = events.find((e) => e.kind === "deploy")!.t;
      // The engine's record belongs to this deploy only if `cutover deploy` ran it.
      const engine = readEngineRecords(ref.key).filter((r) => r.t >= start - 120_000);
      const outputs = await ref.stack.outputs().catch(() => ({}) as Record<string, { value: unknown }>);
      const stackHosts = Array.isArray(outputs.hosts?.value) ? (outputs.hosts.value as Array<{ name: string }>).map((h) => h.name) : undefined;
      const html = renderReport({ project: ref.project, stack: ref.name, events, engine: engine.some((r) => r.t >= start) ? engine : [], hosts: stackHosts });
      const out = path.resolve(str(p, "out") ?? `cutover-report-${ref.name}.html`);
      fs.writeFileSync(out, html);
      const hosts = new Set(events.flatMap((e) => (e.kind === "phase" ? [e.host] : []))).size;
      print(`wrote ${out}: the deploy of ${(events[0] as { release?: string }).release ?? "?"} started ${new Date(start).toISOString()}, ${hosts} host(s); open it in a browser`);
      return 0;
    },
  },
};

function mainHelp(): string {
  const w = Math.max(...Object.keys(commands).map((k) => k.length));
  return [
    "cutover: zero-downtime deploys of a Pulumi stack that uses Cutover's Deployment",
    "",
    "usage: cutover <command> [options]   (cutover <command> --help for its options)",
    "",
    ...Object.entries(commands).map(([k, c]) => `  ${k.padEnd(w)}  ${c.summary}`),
    "",
    "Every command takes --stack NAME and --cwd DIR like pulumi. Exit status: 0 done, 1 failed (the",
    "message says what to run next), 2 wrong usage.",
  ].join("\n");
}

function commandHelp(c: Command): string {
  return [`usage: ${c.usage}`, "", c.summary, "", c.details, "", "options:", optionHelp(c.options)].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    print(mainHelp());
    return name ? 0 : 2;
  }
  const c = commands[name];
  if (!c) {
    warn(`cutover: unknown command ${JSON.stringify(name)}\n\n${mainHelp()}`);
    return 2;
  }
  let p: Parsed;
  try {
    p = parseArgs(rest, c.options);
    if (p.help) {
      print(commandHelp(c));
      return 0;
    }
    if (p._.length) throw new UsageError(`unexpected argument ${JSON.stringify(p._[0])}`);
    return await c.run(p);
  } catch (e) {
    if (e instanceof UsageError) {
      warn(`cutover ${name}: ${e.message}\nusage: ${c.usage}\n(cutover ${name} --help for details)`);
      return 2;
    }
    if (e instanceof CliError) {
      warn(e.message);
      return 1;
    }
    warn(`cutover ${name}: ${firstLine((e as Error).message ?? String(e))}`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(`cutover: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(1);
    },
  );
}

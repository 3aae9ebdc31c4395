// One `pulumi up` of the stack as `cutover deploy` and `cutover rollback` run it: live per-host
// progress from the runner's event log, the engine's events recorded for `cutover report`,
// notifications, and a one-screen summary whose last lines say what to run next on failure.
import * as fs from "node:fs";
import * as os from "node:os";
import { EngineEvent } from "@pulumi/pulumi/automation";
import { DeployEvent, eventLogPath, summarize } from "../runner/events";
import { followRollout } from "./progress";
import { Notice, Notifier } from "./notify";
import { StackRef, firstLine } from "./workspace";
import { pulumiUp } from "./pulumi-up";

/** What `cutover report` keeps of the engine's events: no inputs, no outputs, no secrets. */
export interface EngineRecord {
  t: number;
  type: "prelude" | "pre" | "done" | "failed" | "diagnostic" | "summary" | "cancel";
  urn?: string;
  op?: string;
  severity?: string;
  message?: string;
  durationSeconds?: number;
  resourceChanges?: Record<string, number>;
}

export function engineLogPath(key: string): string {
  return eventLogPath(key).replace(/\.jsonl$/, ".engine.jsonl");
}

const ANSI = /\u001b\[[0-9;]*m/g;

export function engineRecord(e: EngineEvent, t = Date.now()): EngineRecord | undefined {
  if (e.preludeEvent) return { t, type: "prelude" };
  if (e.resourcePreEvent) return { t, type: "pre", urn: e.resourcePreEvent.metadata.urn, op: e.resourcePreEvent.metadata.op };
  if (e.resOutputsEvent) return { t, type: "done", urn: e.resOutputsEvent.metadata.urn, op: e.resOutputsEvent.metadata.op };
  if (e.resOpFailedEvent) return { t, type: "failed", urn: e.resOpFailedEvent.metadata.urn, op: e.resOpFailedEvent.metadata.op };
  if (e.cancelEvent) return { t, type: "cancel" };
  if (e.summaryEvent) {
    return { t, type: "summary", durationSeconds: e.summaryEvent.durationSeconds, resourceChanges: e.summaryEvent.resourceChanges as Record<string, number> };
  }
  const d = e.diagnosticEvent;
  if (d && (d.severity === "error" || d.severity === "warning")) {
    return { t, type: "diagnostic", urn: d.urn, severity: d.severity, message: d.message.replace(ANSI, "").trim() };
  }
  return undefined;
}

export function readEngineRecords(key: string): EngineRecord[] {
  try {
    return fs.readFileSync(engineLogPath(key), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as EngineRecord);
  } catch {
    return [];
  }
}

export interface Failure {
  kind: "step" | "stack-lock" | "pending" | "cancelled" | "other";
  host?: string;
  step?: string;
  reason: string;
}

/** Which step of the deploy failed, on which host, and why — from the engine's and runner's records. */
export function explainFailure(records: EngineRecord[], events: DeployEvent[], errorText: string, deployment = "app"): Failure {
  const all = `${errorText}\n${records.map((r) => r.message ?? "").join("\n")}`;
  if (/currently locked by|the stack is currently locked/i.test(all)) {
    const who = all.match(/created by (\S+) \(pid (\d+)\)/);
    return { kind: "stack-lock", reason: `the stack is locked by another update${who ? ` (${who[1]}, pid ${who[2]})` : ""}` };
  }
  if (/pending operations?|interrupted while/i.test(all) && !records.some((r) => r.type === "failed")) {
    return { kind: "pending", reason: "an earlier update was interrupted and left pending operations in the stack's state" };
  }
  const failedUrn = records.find((r) => r.type === "failed")?.urn;
  const name = failedUrn?.split("::").pop() ?? "";
  let host: string | undefined;
  let step: string | undefined;
  // Step names: <deployment>-<host>-prepare, <deployment>-batch<N>-<host>-cycle (or, before
  // batches were named, <deployment>-<host>-cycle), <deployment>-migrate.
  const m = name.match(new RegExp(`^${deployment}-(?:batch\\d+-)?(.+)-(prepare|cycle)$`));
  if (m) [, host, step] = m;
  else if (name === `${deployment}-migrate`) {
    step = "migrate";
    const m = events.find((e) => e.kind === "phase" && e.phase === "migrate");
    host = m?.kind === "phase" ? m.host : undefined;
  }
  const phaseFailed = events.find((e) => e.kind === "phase" && e.phase === "failed" && (!host || e.host === host));
  if (!host && phaseFailed?.kind === "phase") {
    host = phaseFailed.host;
    step = step ?? "cycle";
  }
  const diag = records.filter((r) => r.type === "diagnostic" && r.severity === "error" && (!failedUrn || r.urn === failedUrn)).map((r) => r.message ?? "");
  const lines = diag.join("\n").split("\n").map((l) => l.trim()).filter(Boolean);
  const cutoverLine = [...lines].reverse().find((l) => /cutover(\[[^\]]+\])?:/.test(l));
  const reason =
    (cutoverLine ? cutoverLine.slice(cutoverLine.search(/cutover(\[[^\]]+\])?:/)) : undefined) ??
    (phaseFailed?.kind === "phase" ? phaseFailed.detail : undefined) ??
    lines[lines.length - 1] ??
    firstLine(errorText);
  if (/cancel/i.test(all) && records.some((r) => r.type === "cancel") && !host) return { kind: "cancelled", reason: "the update was cancelled" };
  return { kind: host ? "step" : "other", host, step, reason: reason || "the update failed" };
}

/** The line(s) telling the user what to do about a failure. */
export function nextSteps(f: Failure, flags: string): string[] {
  switch (f.kind) {
    case "stack-lock":
    case "pending":
      return [
        `next: if no other update of this stack is running, run \`cutover unlock ${flags}\` (it checks, clears the stack lock and pending operations, and says what it removed), then \`cutover deploy ${flags}\` again`,
      ];
    case "step":
      return [
        `next: fix the cause on ${f.host}, then \`cutover deploy ${flags}\` again (it retries from there; hosts already on the release are left alone),`,
        `      or go back: \`cutover rollback ${flags}\`; \`cutover status ${flags}\` shows every host, \`cutover report ${flags}\` draws this deploy`,
      ];
    case "cancelled":
      return [`next: \`cutover status ${flags}\` shows where each host is; \`cutover deploy ${flags}\` finishes the rollout`];
    default:
      return [`next: run again with --verbose to see Pulumi's whole output; \`cutover status ${flags}\` shows the hosts`];
  }
}

export interface UpdateOptions {
  kind: "deploy" | "rollback";
  /** What is being deployed, for the header: a version label or a release id. */
  label: string;
  /** Config the update sets (and saves in the stack's settings) as it starts. */
  config?: Record<string, string>;
  /** Known before the update (rollback target); otherwise taken from the runner's registration. */
  release?: string;
  previousRelease?: string;
  message?: string;
  deployer: string;
  verbose: boolean;
  print(line: string): void;
  notifier: Notifier;
}

export interface UpdateOutcome {
  ok: boolean;
  release: string;
  failure?: Failure;
}

const hostsOf = (events: DeployEvent[], phase: string) => [
  ...new Set(events.flatMap((e) => (e.kind === "phase" && e.phase === phase ? [e.host] : []))),
];

/** Servers an operator had taken out of the balancer: the deploy did not put them back. */
function printLeftAsFound(events: DeployEvent[], print: (line: string) => void): void {
  for (const e of events) if (e.kind === "phase" && e.phase === "left-as-found") print(`  left as found: ${e.host} (${e.detail ?? "out of rotation"})`);
}

export async function runUpdate(ref: StackRef, o: UpdateOptions): Promise<UpdateOutcome> {
  const { print } = o;
  const started = Date.now();
  const engineFile = engineLogPath(ref.key);
  fs.mkdirSync(eventLogPath(ref.key).replace(/\/[^/]+$/, ""), { recursive: true, mode: 0o700 });
  fs.writeFileSync(engineFile, "", { mode: 0o600 });
  const records: EngineRecord[] = [];
  const events: DeployEvent[] = [];
  let release = o.release ?? "";
  let deployer = o.deployer;
  let announced: Promise<void> | undefined;
  const notice = (n: Omit<Notice, "project" | "stack" | "release" | "deployer" | "message" | "previousRelease">): Notice => ({
    project: ref.project,
    stack: ref.name,
    release,
    previousRelease: o.previousRelease,
    deployer,
    message: o.message,
    ...n,
  });
  const announce = () => (announced ??= o.notifier.send(notice({ event: o.kind === "rollback" ? "rollback" : "start" })));

  const target = `${ref.project}/${ref.name}`;
  print(`${o.kind === "rollback" ? `rolling ${target} back to ${o.label}` : `deploying ${o.label} to ${target}`}${o.message ? ` — ${o.message}` : ""}`);
  const progress = followRollout(
    ref.key,
    (line) => print(`  ${line}`),
    (e) => {
      events.push(e);
      if (e.kind === "deploy") {
        release = e.release;
        deployer = e.deployer || deployer;
        print(`  release ${e.release}: ${e.hosts} host(s), deployer ${deployer}`);
        void announce();
      }
    },
  );

  // Ctrl-C in a terminal reaches pulumi too (same process group): it stops after the steps in
  // flight, and the runner puts hidden hosts back. A SIGTERM (CI) is passed on as one SIGINT.
  const abort = new AbortController();
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    print(`cutover: ${sig}: stopping after the steps in flight (hosts being cycled go back in rotation); press Ctrl-C again to leave at once`);
    if (sig === "SIGTERM" || !process.stdin.isTTY) abort.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  let error: Error | undefined;
  let resourceChanges: Record<string, number> | undefined;
  try {
    await pulumiUp(ref, {
      message: o.message,
      config: o.config,
      signal: abort.signal,
      onOutput: o.verbose ? (out) => process.stdout.write(out) : undefined,
      onEvent: (e) => {
        const r = engineRecord(e);
        if (!r) return;
        records.push(r);
        fs.appendFileSync(engineFile, `${JSON.stringify(r)}\n`);
        if (r.type === "summary") resourceChanges = r.resourceChanges;
      },
    });

  } catch (e) {
    error = e as Error;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  progress.stop();
  // The runner's deploy event named the release (followRollout above); only a stack whose
  // update registered no deploy is asked for its output.
  if (!error && !release) release = String((await ref.stack.outputs().catch(() => ({}) as Record<string, { value: unknown }>)).releaseId?.value ?? "");
  await announce();
  const seconds = Math.round((Date.now() - started) / 100) / 10;
  const s = summarize(events);
  const hosts = { switched: hostsOf(events, "switched"), unchanged: hostsOf(events, "unchanged"), failed: s.failedHosts };
  print("");
  if (!error) {
    print(`${o.kind === "rollback" ? "rolled back" : "deployed"}: ${ref.project}/${ref.name} is on ${release} (${seconds} s)`);
    print(`  switched: ${hosts.switched.join(", ") || "none"}${hosts.unchanged.length ? `; already on it: ${hosts.unchanged.join(", ")}` : ""}`);
    const out = Object.entries(s.outOfRotationSeconds);
    if (out.length) print(`  out of rotation: ${out.map(([h, t]) => `${h} ${t.toFixed(1)} s`).join(", ")}`);
    if (resourceChanges) print(`  resources: ${Object.entries(resourceChanges).map(([k, v]) => `${v} ${k}`).join(", ")}`);
    printLeftAsFound(events, print);
    print(`  timeline: \`cutover report ${ref.flags}\`; history: \`cutover history ${ref.flags}\``);
    await o.notifier.send(notice({ event: "success", seconds, hosts }));
    return { ok: true, release };
  }
  const failure = explainFailure(records, events, error.message, ref.key.split("/").pop());
  // The runner speaks to `pulumi up` users; here the retry is this command.
  const retry = o.kind === "rollback" ? `cutover rollback ${ref.flags} --to ${release || o.label}` : `cutover deploy ${ref.flags}`;
  failure.reason = failure.reason.replace(/`pulumi up`/g, `\`${retry}\``);
  print(`FAILED: ${o.kind} of ${release || o.label} to ${ref.project}/${ref.name} after ${seconds} s`);
  if (failure.host) print(`  at host ${failure.host}, step ${failure.step ?? "?"}`);
  print(`  ${failure.reason}`);
  if (hosts.switched.length || hosts.failed.length) {
    print(`  switched: ${hosts.switched.join(", ") || "none"}; failed: ${hosts.failed.join(", ") || "none"}`);
  }
  printLeftAsFound(events, print);
  for (const line of nextSteps(failure, ref.flags)) print(line);
  await o.notifier.send(notice({ event: "failure", host: failure.host, step: failure.step, reason: failure.reason, seconds, hosts }));
  return { ok: false, release, failure };
}

export function defaultDeployer(app: Record<string, unknown> | undefined): string {
  return typeof app?.deployer === "string" ? app.deployer : `${os.userInfo().username}@${os.hostname()}`;
}

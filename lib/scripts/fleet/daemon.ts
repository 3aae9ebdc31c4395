// Start, reload and stop one local-fleet daemon (sshd, supervisord, haproxy) idempotently.
// A daemon is "running" when its pid file names a live process whose command line contains
// its own config path: a stale pid file after a reboot, or a pid reused by another
// program, does not count.
import { raw, script, sh, Word } from "../quote";

export interface DaemonArgs {
  /** Label used in messages, e.g. "web1 sshd". */
  label: string;
  pidFile: string;
  /** Unique to this daemon instance: its config file path. */
  configPath: string;
  /** Fingerprint of the config: a change reloads a running daemon. */
  configHash: string;
  /** Validates the config; the daemon is not (re)loaded when this fails. */
  check?: Word[];
  start: Word[];
  /** How a running daemon picks up a changed config. */
  reload: Word[];
  logFile?: string;
  readySeconds?: number;
  /**
   * Where the liveness epoch the program computed (env EPOCH) is recorded once the daemon
   * runs; see providers/hosts/local-fleet/liveness.ts for why.
   */
  epochFile?: string;
}

function runningFunction(pidFile: string, configPath: string): string[] {
  return [
    sh`pidfile=${pidFile}`,
    sh`marker=${configPath}`,
    'running() { [ -s "$pidfile" ] || return 1; pid=$(cat "$pidfile"); [ -r "/proc/$pid/cmdline" ] || return 1; tr "\\0" " " < "/proc/$pid/cmdline" | grep -qF -- "$marker"; }',
  ];
}

export function startDaemon(a: DaemonArgs): string {
  const hashFile = `${a.pidFile}.confighash`;
  const ready = a.readySeconds ?? 15;
  return script([
    ...runningFunction(a.pidFile, a.configPath),
    a.check && sh`${a.check} >/dev/null || { echo ${`cutover fleet: ${a.label}: config check failed; not (re)starting`} >&2; ${a.check} >&2 || true; exit 1; }`,
    "if running; then",
    sh`  if [ "$(cat ${hashFile} 2>/dev/null)" != ${a.configHash} ]; then ${a.reload}; echo ${`${a.label}: reloaded`}; fi`,
    "else",
    '  rm -f "$pidfile"',
    sh`  ${a.start}`,
    sh`  echo ${`${a.label}: started`}`,
    "fi",
    sh`printf '%s\n' ${a.configHash} > ${hashFile}`,
    a.epochFile && sh`printf '%s\n' "\${EPOCH:-0}" > ${a.epochFile}`,
    sh`i=0; while ! running; do i=$((i+1)); if [ "$i" -gt ${ready * 10} ]; then echo ${`cutover fleet: ${a.label} did not start within ${ready} s`} >&2; ${a.logFile ? sh`tail -n 20 ${a.logFile} >&2 || true;` : raw("")} exit 1; fi; sleep 0.1; done`,
  ]);
}

export function stopDaemon(a: Pick<DaemonArgs, "label" | "pidFile" | "configPath" | "epochFile"> & { stopSeconds?: number }): string {
  const wait = a.stopSeconds ?? 10;
  return script([
    ...runningFunction(a.pidFile, a.configPath),
    "if running; then",
    '  kill -TERM "$pid" 2>/dev/null || true',
    sh`  i=0; while running; do i=$((i+1)); if [ "$i" -gt ${wait * 10} ]; then kill -KILL "$pid" 2>/dev/null || true; echo ${`${a.label}: killed after ${wait} s`} >&2; break; fi; sleep 0.1; done`,
    sh`  echo ${`${a.label}: stopped`}`,
    "fi",
    sh`rm -f "$pidfile" ${`${a.pidFile}.confighash`} ${a.epochFile ?? []}`,
  ]);
}

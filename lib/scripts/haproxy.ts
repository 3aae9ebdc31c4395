/**
 * Hide and unhide a server in HAProxy through its runtime API (the admin stats socket),
 * reached with `socat stdio unix-connect:<socket>`; these scripts run on the LB host.
 *
 * Hide = `set server <be>/<srv> state drain` (no new sessions, health checks go on), then
 * poll `show stat` until the server's `scur` (current sessions) is 0. If sessions remain at
 * the deadline, the server is put in `maint` with a warning and the deploy carries on: one
 * stuck long-poll must not block a rollout forever.
 * Unhide = `state ready`, then poll until the `status` column says UP (health checks
 * passed); "no check" counts as up, since a server without checks has nothing to wait for.
 *
 * `show stat` is CSV whose first line is `# pxname,svname,…`; columns are looked up by
 * name in that header, not by position, so HAProxy versions that add columns still parse.
 * The runtime API answers a successful `set server` with an empty reply and anything else
 * is an error message, which is reported.
 *
 * Backend/server names are validated (HAProxy's own charset): they travel inside the API
 * command text, where `;` would start another command. The socket path is restricted too,
 * because socat gives `:` and `,` meaning inside its address argument.
 */
import { hostScript } from "./common";
import { CutoverInputError, validateAbsolutePath, validateInteger } from "../plan";

export interface HaproxyTarget {
  /** Path of HAProxy's admin socket on the LB host (`stats socket <path> level admin`). */
  socket: string;
  backend: string;
  server: string;
  /** Label for messages; defaults to the server name. */
  host?: string;
}

export interface HaproxyWait extends HaproxyTarget {
  timeoutSeconds: number;
  /** Milliseconds between polls (default 100: HAProxy answers in microseconds, hosts wait on this). */
  intervalMs?: number;
}

const HAPROXY_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
const SOCKET_PATH = /^\/[A-Za-z0-9_.@+/-]+$/;

function validateHaproxyName(value: unknown, argument: string): string {
  if (typeof value !== "string" || !HAPROXY_NAME.test(value)) {
    throw new CutoverInputError(argument, value, "use the name from haproxy.cfg: letters, digits, \"_\", \".\", \":\" or \"-\"");
  }
  return value;
}

function validateSocket(value: unknown): string {
  const path = validateAbsolutePath(value, "socket");
  if (!SOCKET_PATH.test(path)) {
    throw new CutoverInputError("socket", value, "use a socket path of letters, digits and \"_.@+-/\" only (socat reads \":\" and \",\" as syntax)");
  }
  return path;
}

function target(t: HaproxyTarget) {
  const backend = validateHaproxyName(t.backend, "backend");
  const server = validateHaproxyName(t.server, "server");
  return {
    host: t.host ?? server,
    vars: { socket: validateSocket(t.socket), backend, server } as Record<string, string | number>,
  };
}

function waitVars(w: HaproxyWait): Record<string, number | string> {
  const ms = validateInteger(w.intervalMs ?? 100, "intervalMs", { min: 10, max: 10_000, unit: "milliseconds" });
  return {
    timeout: validateInteger(w.timeoutSeconds, "timeoutSeconds", { min: 0, unit: "seconds" }),
    // `sleep` takes fractions (coreutils); written as seconds with three decimals.
    interval: (ms / 1000).toFixed(3),
  };
}

/** hap CMD sends one runtime API command; set_state and read_stat build on it. */
const HAPROXY_SH = [
  "hap() { printf '%s\\n' \"$1\" | socat stdio \"unix-connect:$socket\"; }",
  "set_state() {",
  '  _out=$(hap "set server $backend/$server state $2") ||',
  '    fail "$1" "cannot reach the HAProxy runtime API at $socket; is haproxy running with \\"stats socket $socket level admin\\"?"',
  "  _out=$(printf '%s' \"$_out\" | tr -d '\\r' | sed '/^[[:space:]]*$/d')",
  '  [ -z "$_out" ] || fail "$1" "HAProxy refused \\"set server $backend/$server state $2\\": $_out"',
  "}",
  "set_health() {",
  '  _out=$(hap "set server $backend/$server health $2") || fail "$1" "cannot reach the HAProxy runtime API at $socket"',
  "  _out=$(printf '%s' \"$_out\" | tr -d '\\r' | sed '/^[[:space:]]*$/d')",
  '  [ -z "$_out" ] || fail "$1" "HAProxy refused \\"set server $backend/$server health $2\\": $_out"',
  "}",
  // Sets $value to column $2 of the backend/server row of `show stat`.
  "read_stat() {",
  '  _stats=$(hap "show stat") || fail "$1" "cannot reach the HAProxy runtime API at $socket; is haproxy running?"',
  "  value=$(printf '%s\\n' \"$_stats\" | tr -d '\\r' | awk -F, -v be=\"$backend\" -v sv=\"$server\" -v col=\"$2\" '",
  "    NR == 1 { sub(/^# /, \"\"); for (i = 1; i <= NF; i++) idx[$i] = i; next }",
  "    $1 == be && $2 == sv && (col in idx) { print $(idx[col]); found = 1; exit }",
  "    END { if (!found) exit 3 }') ||",
  '    fail "$1" "$backend/$server is not in HAProxy\'s \\"show stat\\"; check the backend and server names in haproxy.cfg"',
  "}",
  "now_s() { date +%s; }",
].join("\n");

const DRAIN = ['set_state drain drain', 'say drain "$backend/$server set to drain"'];
const READY = ['set_state ready ready', 'say ready "$backend/$server set to ready"'];
// The runner puts a host back only after it passed the same check HAProxy runs (its smoke
// test on the host), so the server is marked healthy at once instead of after `rise` more
// checks; HAProxy's own checks go on and take it out again if it fails them.
const READY_CHECKED = ['set_state ready ready', 'set_health ready up', 'say ready "$backend/$server set to ready (checked)"'];
const MAINT = ['set_state drain maint', 'say drain "$backend/$server set to maint"'];

const WAIT_NO_SESSIONS = [
  "deadline=$(( $(now_s) + timeout ))",
  "while :; do",
  "  read_stat drain scur",
  '  case $value in ""|*[!0-9]*) fail drain "unexpected scur \\"$value\\" for $backend/$server" ;; esac',
  '  if [ "$value" -eq 0 ]; then say drain "$backend/$server has no sessions"; break; fi',
  '  if [ "$(now_s)" -ge "$deadline" ]; then',
  '    warn drain "$backend/$server still has $value session(s) after ${timeout}s; setting it to maint and continuing"',
  "    set_state drain maint",
  "    break",
  "  fi",
  '  sleep "$interval"',
  "done",
];

const WAIT_UP = [
  "deadline=$(( $(now_s) + timeout ))",
  "while :; do",
  "  read_stat ready status",
  '  case $value in UP|"no check") say ready "$backend/$server is $value"; break ;; esac',
  '  if [ "$(now_s)" -ge "$deadline" ]; then',
  '    fail ready "$backend/$server is \\"$value\\", not UP, after ${timeout}s; the app on the host is failing its health check (or raise timeoutSeconds)"',
  "  fi",
  '  sleep "$interval"',
  "done",
];

function haproxyScript(t: HaproxyTarget, extra: Record<string, number | string>, body: string[]): string {
  const { host, vars } = target(t);
  return hostScript({ host, vars: { ...vars, ...extra }, functions: [HAPROXY_SH], body });
}

/** Stop sending new sessions to the server. */
export function drainServer(t: HaproxyTarget): string {
  return haproxyScript(t, {}, DRAIN);
}

/** Wait until the server has no sessions; at the deadline put it in maint and carry on. */
export function waitNoSessions(w: HaproxyWait): string {
  return haproxyScript(w, waitVars(w), WAIT_NO_SESSIONS);
}

/** Put the server back in rotation (health checks decide when it gets traffic). */
export function readyServer(t: HaproxyTarget): string {
  return haproxyScript(t, {}, READY);
}

/** Wait until HAProxy reports the server UP; fails at the deadline naming the status. */
export function waitUp(w: HaproxyWait): string {
  return haproxyScript(w, waitVars(w), WAIT_UP);
}

/** Prints the server's status column (UP, DOWN, DRAIN, MAINT, "no check", …). */
export function serverState(t: HaproxyTarget): string {
  return haproxyScript(t, {}, ["read_stat state status", "printf '%s\\n' \"$value\""]);
}

/**
 * Hide: maint, then wait for the sessions in flight to end. maint sends no new request to the
 * server (a keep-alive client's next request goes to another server, which drain alone does
 * not guarantee: measured 6 failed of 136,142 with drain only) and does not cut the requests
 * already running there, so "no sessions" after maint means nothing is left to interrupt.
 */
export function hideServer(w: HaproxyWait): string {
  return haproxyScript(w, waitVars(w), [...MAINT, ...WAIT_NO_SESSIONS]);
}

/** Unhide: ready, then wait until UP; `checked`: the host already passed the health check. */
export function unhideServer(w: HaproxyWait & { checked?: boolean }): string {
  return haproxyScript(w, waitVars(w), [...(w.checked ? READY_CHECKED : READY), ...WAIT_UP]);
}

/**
 * Hide and unhide a server in HAProxy through its runtime API (the admin stats socket),
 * reached with `socat stdio unix-connect:<socket>`; these scripts run on the LB host.
 *
 * Hide = under a lock on the LB host, check that enough OTHER servers of the backend are UP
 * (minInRotation, whoever else deploys), record a marker (the state to go back to), start a
 * guard that readmits the server if nobody does within its lease, `state maint`; then poll
 * `show stat` until `scur` (current sessions) is 0, bounded.
 * Put back = to the recorded state: marked healthy at once only after the host passed its
 * check in this cycle, else with weight 0 until HAProxy's own check has run.
 * readRotation tells an operator's MAINT (no marker) from one Cutover left (a marker).

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
  const timeout = validateInteger(w.timeoutSeconds, "timeoutSeconds", { min: 0, unit: "seconds" });
  return {
    timeout,
    // `sleep` takes fractions (coreutils); written as seconds with three decimals.
    interval: (ms / 1000).toFixed(3),
    // The waits count their polls instead of reading the clock: each poll costs a process
    // less on the LB host while a server is out of rotation (a poll only takes longer than
    // its interval, so the wait is never shorter than `timeout`).
    polls: Math.ceil((timeout * 1000) / ms),
  };
}

/** hap CMD sends one runtime API command; set_state and read_stat build on it. */
const HAPROXY_SH = [
  // Bounded without a `timeout` process (one less per call while a server is out): socat
  // gives up on a connect after 10 s and on a silent HAProxy after 10 s more.
  "hap() { printf '%s\\n' \"$1\" | socat -T 10 stdio \"unix-connect:$socket,connect-timeout=10\"; }",
  // `refused WHAT STEP`, on the answer in $_out: the runtime API answers a command it took
  // with blank lines only.
  "refused() { case $_out in *[![:space:]]*) fail \"$2\" \"HAProxy refused \\\"$1\\\": $_out\" ;; esac; }",
  "set_state() {",
  '  _out=$(hap "set server $backend/$server state $2") ||',
  '    fail "$1" "cannot reach the HAProxy runtime API at $socket; is haproxy running with \\"stats socket $socket level admin\\"?"',
  '  refused "set server $backend/$server state $2" "$1"',
  "}",
  "set_health() {",
  '  _out=$(hap "set server $backend/$server health $2") || fail "$1" "cannot reach the HAProxy runtime API at $socket"',
  '  refused "set server $backend/$server health $2" "$1"',
  "}",
  // Sets $value to column $2 of the backend/server row of `show stat`.
  "read_stat() {",
  '  _stats=$(hap "show stat") || fail "$1" "cannot reach the HAProxy runtime API at $socket; is haproxy running?"',
  "  value=$(printf '%s\\n' \"$_stats\" | awk -F, -v be=\"$backend\" -v sv=\"$server\" -v col=\"$2\" '",
  "    { sub(/\\r$/, \"\") }",
  "    NR == 1 { sub(/^# /, \"\"); for (i = 1; i <= NF; i++) idx[$i] = i; next }",
  "    $1 == be && $2 == sv && (col in idx) { print $(idx[col]); found = 1; exit }",
  "    END { if (!found) exit 3 }') ||",
  '    fail "$1" "$backend/$server is not in HAProxy\'s \\"show stat\\"; check the backend and server names in haproxy.cfg"',
  "}",
  "now_s() { date +%s; }",
].join("\n");

const WAIT_NO_SESSIONS = [
  "_poll=0",
  "while :; do",
  "  read_stat drain scur",
  '  case $value in ""|*[!0-9]*) fail drain "unexpected scur \\"$value\\" for $backend/$server" ;; esac',
  '  if [ "$value" -eq 0 ]; then say drain "$backend/$server has no sessions"; break; fi',
  "  _poll=$((_poll + 1))",
  '  if [ "$_poll" -gt "$polls" ]; then',
  '    warn drain "$backend/$server still has $value session(s) after ${timeout}s; carrying on (maint sends it no new request)"',
  "    break",
  "  fi",
  '  sleep "$interval"',
  "done",
];

const WAIT_UP = [
  "_poll=0",
  "while :; do",
  "  read_stat ready status",
  '  case $value in UP|"no check") say ready "$backend/$server is $value"; break ;; esac',
  "  _poll=$((_poll + 1))",
  '  if [ "$_poll" -gt "$polls" ]; then',
  '    fail ready "$backend/$server is \\"$value\\", not UP, after ${timeout}s; the app on the host is failing its health check (or raise upSeconds)"',
  "  fi",
  '  sleep "$interval"',
  "done",
];

/**
 * Where Cutover keeps, on the LB host, the markers of the servers it hid (`was`, `weight`,
 * `token`, `drained`) and the lock that makes "count the servers in rotation, then hide" one step for
 * every deploy through this account, whichever stack or machine it comes from.
 */
const MARKERS_SH = [
  // Per HAProxy (its admin socket) and backend: one account may reach several balancers.
  'marker_dir="${HOME:-/tmp}/.cutover-lb/$(printf \'%s\' "$socket" | tr / _)/$backend"',
  'marker="$marker_dir/$server"',
  '[ -d "$marker_dir" ] || mkdir -p -- "$marker_dir" || fail "$step" "cannot create $marker_dir on the load balancer host"',
  'exec 8>>"$marker_dir/.lock" || fail "$step" "cannot open $marker_dir/.lock"',
  'lb_lock() { flock -w 30 8 || fail "$step" "another deploy held $marker_dir/.lock for more than 30 s"; }',
  // The shell's own read: no process per field (the guard asks every second).
  "marker_field() {",
  '  [ -f "$marker" ] || return 0',
  '  while IFS= read -r _line; do case $_line in "$1="*) printf \'%s\' "${_line#*=}"; return 0 ;; esac; done < "$marker"',
  "}",
].join("\n");

/**
 * `readmit_unchecked WAS WEIGHT`: back to WAS without vouching for the app. Leaving maint makes
 * HAProxy count the server UP at once (health = rise, "start OK but check immediately"), which
 * would hand a dead app traffic until its first failed check; with weight 0 it gets none until
 * a check has really run (status UP or DOWN, no longer "UP 1/2"), then its weight comes back
 * and HAProxy's own checks decide from there.
 */
const READMIT_SH = [
  "readmit_unchecked() {",
  '  hap "set weight $backend/$server 0" >/dev/null',
  '  set_state "$step" "$1"',
  // The check HAProxy runs on leaving maint is immediate: 2 s is room for it to end even where
  // `fall 1` shows a plain UP before it (a settled UP or DOWN after that is its verdict). The
  // clock counts whole seconds, so +3 is at least 2 s (+2 was as little as 1 s: a check that took
  // 1 s under load was still pending, the weight came back, and a dead app got a request).
  "  _min=$(( $(now_s) + 3 ))",
  "  _end=$(( $(now_s) + 60 ))",
  '  while [ "$(now_s)" -lt "$_end" ]; do',
  '    read_stat "$step" status',
  '    case $value in DOWN*) break ;; esac',
  '    if [ "$(now_s)" -ge "$_min" ]; then case $value in UP|"no check"|DRAIN) break ;; esac; fi',
  "    sleep 0.2",
  "  done",
  '  hap "set weight $backend/$server $2" >/dev/null',
  "}",
].join("\n");

function haproxyScript(t: HaproxyTarget, extra: Record<string, number | string>, body: string[], functions: string[] = []): string {
  const { host, vars } = target(t);
  return hostScript({ host, vars: { ...vars, ...extra }, functions: [HAPROXY_SH, ...functions], body });
}

/** Prints `status=<HAProxy status>`, `weight=<n>`, `marker=<was|none>`: what rotation() reads. */
export function readRotation(t: HaproxyTarget): string {
  return haproxyScript(t, { step: "state" }, [
    MARKERS_SH,
    "read_stat state status",
    "printf 'status=%s\\n' \"$value\"",
    "read_stat state weight",
    "printf 'weight=%s\\n' \"$value\"",
    "printf 'marker=%s\\n' \"$(marker_field was)\"",
  ]);
}

export interface HideArgs extends HaproxyWait {
  /** The admin state to go back to: ready or drain. */
  was: "ready" | "drain";
  minInRotation: number;
  /**
   * minInRotation is the deploy's default (hosts − batch), not the user's number: servers an
   * operator has in MAINT, and servers fully DOWN (never deployed: a fleet that grew; a crashed
   * app), are out already, so each lowers it by one (the deploy cannot keep capacity it never
   * had, and must not wait forever for it). A server coming UP ("DOWN 1/2") still counts.
   */
  minLessOperatorOut?: boolean;
  /** Longest wait for the backend to have minInRotation other servers UP. */
  rotationWaitSeconds: number;
  leaseSeconds: number;
  /** Identifies this hide: the guard acts only while the marker still carries it. */
  token: string;
}

/**
 * The guard a hide leaves behind, detached, on the LB host: if the marker is still this hide's
 * after `lease` seconds (nobody put the server back: the agent died), it readmits the server
 * unchecked. Its one line of record goes to guard.log beside the markers.
 */
function guardScript(a: HideArgs): string {
  return haproxyScript(a, { ...waitVars(a), step: "guard", was: a.was, token: a.token, lease: a.leaseSeconds }, [
    MARKERS_SH,
    // The lease counts from the end of the drain (the hide records it); a drain that never
    // ends is bounded by its own timeout. Counted in one-second sleeps, not read from the
    // clock: one process a second per hidden server, and a late count only lengthens the lease.
    "_left=$(( timeout + lease ))",
    "_drained=''",
    "while :; do",
    '  [ "$(marker_field token)" = "$token" ] || exit 0',
    '  if [ -z "$_drained" ] && [ -n "$(marker_field drained)" ]; then _drained=1; _left=$lease; fi',
    '  [ "$_left" -gt 0 ] || break',
    "  sleep 1",
    "  _left=$((_left - 1))",
    "done",
    "lb_lock",
    '[ "$(marker_field token)" = "$token" ] || exit 0',
    '_weight=$(marker_field weight); case $_weight in ""|*[!0-9]*) _weight=1 ;; esac',
    'readmit_unchecked "$was" "$_weight"',
    'rm -f -- "$marker"',
    "printf '%s %s/%s readmitted unchecked (%s): nobody put it back within %ss of its hide\\n' \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\" \"$backend\" \"$server\" \"$value\" \"$lease\" >> \"$marker_dir/guard.log\"",
  ], [READMIT_SH]);
}

/**
 * Hide: under the LB lock, wait (bounded) until at least `minInRotation` OTHER servers of the
 * backend are UP, record the marker, start the guard, set maint; then wait for the sessions in
 * flight to end. maint sends no new request to the server (a keep-alive client's next request
 * goes to another server, which drain alone does not guarantee: measured 6 failed of 136,142
 * with drain only) and does not cut the requests already running there.
 */
export function hideGuarded(a: HideArgs): string {
  return haproxyScript(
    a,
    {
      ...waitVars(a),
      step: "hide",
      was: a.was,
      token: a.token,
      min: validateInteger(a.minInRotation, "minInRotation", { min: 0, unit: "servers" }),
      min_less_operator_out: a.minLessOperatorOut ? 1 : 0,
      rotation_wait: validateInteger(a.rotationWaitSeconds, "rotationWaitSeconds", { min: 0, unit: "seconds" }),
      lease: validateInteger(a.leaseSeconds, "leaseSeconds", { min: 0, unit: "seconds" }),
      guard: guardScript(a),
    },
    [
      MARKERS_SH,
      // One `show stat` read: "<other servers UP>|<this server's status>|<its weight>|<others
      // fully DOWN>|<others in MAINT>".
      "backend_view() {",
      '  _stats=$(hap "show stat") || fail hide "cannot reach the HAProxy runtime API at $socket; is haproxy running?"',
      "  printf '%s\\n' \"$_stats\" | tr -d '\\r' | awk -F, -v be=\"$backend\" -v sv=\"$server\" '",
      '    NR == 1 { sub(/^# /, ""); for (i = 1; i <= NF; i++) idx[$i] = i; next }',
      '    $1 != be || $2 == "BACKEND" || $2 == "FRONTEND" { next }',
      '    $2 == sv { self = $(idx["status"]); w = $(idx["weight"]); found = 1; next }',
      '    $(idx["status"]) ~ /^UP/ || $(idx["status"]) == "no check" { n++ }',
      '    $(idx["status"]) == "DOWN" { down++ }',
      '    $(idx["status"]) ~ /^MAINT/ { maint = maint " " $2 }',
      '    END { if (!found) exit 3; printf "%d|%s|%s|%d|%s\\n", n, self, w, down, maint }\' ||',
      '    fail hide "$backend/$server is not in HAProxy\'s \\"show stat\\"; check the backend and server names in haproxy.cfg"',
      "}",
      "said=''",
      "lb_lock",
      "while :; do",
      "  view=$(backend_view)",
      "  others=${view%%|*}; rest=${view#*|}; self_status=${rest%%|*}; rest=${rest#*|}; weight=${rest%%|*}; rest=${rest#*|}; down=${rest%%|*}; in_maint=${rest#*|}",
      "  need=$min",
      '  if [ "$min_less_operator_out" = 1 ]; then',
      "    need=$((need - down))",
      // A MAINT without a marker of ours is an operator's.
      "    for _s in $in_maint; do [ -e \"$marker_dir/$_s\" ] || need=$((need - 1)); done",
      "  fi",
      '  [ "$others" -lt "$need" ] || break',
      // A server that serves nothing (DOWN: a first deploy, a crashed app) takes nothing out
      // of rotation by being hidden; only hiding an UP one must leave `min` others.
      '  case $self_status in UP*|"no check") ;; *) break ;; esac',
      "  flock -u 8",
      // The clock is read only once there is something to wait for.
      '  : "${_wait_end:=$(( $(now_s) + rotation_wait ))}"',
      '  if [ "$(now_s)" -ge "$_wait_end" ]; then',
      '    fail hide "hiding $server would leave $others other server(s) of backend $backend in rotation, fewer than minInRotation $need; waited ${rotation_wait}s for servers to come back (another deploy, or servers failing their checks); nothing was hidden"',
      "  fi",
      '  [ -n "$said" ] || say hide "waiting: backend $backend has $others other server(s) in rotation and minInRotation is $need"',
      "  said=1",
      "  sleep 0.2",
      "  lb_lock",
      "done",
      "printf 'was=%s\\nweight=%s\\ntoken=%s\\n' \"$was\" \"$weight\" \"$token\" > \"$marker.tmp\" && mv -f -- \"$marker.tmp\" \"$marker\" ||",
      '  fail hide "cannot write $marker (disk full?); nothing was hidden"',
      // Without the LB lock's descriptor: the guard takes the lock itself when it acts.
      'if [ "$lease" -gt 0 ]; then setsid -f sh -c "$guard" </dev/null >/dev/null 2>&1 8>&-; fi',
      "set_state hide maint",
      "exec 8>&-",
      'say hide "$backend/$server set to maint ($others other server(s) in rotation)"',
      ...WAIT_NO_SESSIONS,
      "printf 'drained=1\\n' >> \"$marker\" || true",
    ],
  );
}

/**
 * Put back to `was`. `checked`: the host passed its check in this very cycle, so the server is
 * marked healthy at once instead of after `rise` more checks (HAProxy's checks go on and take it
 * out again if it fails them); otherwise readmit_unchecked. The marker goes first, under the LB
 * lock, so the guard stands down.
 */
export function putBackServer(w: HaproxyWait & { was: "ready" | "drain"; checked: boolean }): string {
  return haproxyScript(
    w,
    { ...waitVars(w), step: "ready", was: w.was, checked: w.checked ? 1 : 0 },
    [
      MARKERS_SH,
      "lb_lock",
      '_weight=$(marker_field weight)',
      'rm -f -- "$marker"',
      'if [ "$checked" = 1 ]; then',
      // One round trip to the runtime API: state, health (and the weight a guard may have zeroed).
      '  _cmds="set server $backend/$server state $was; set server $backend/$server health up"',
      '  case $_weight in ""|*[!0-9]*) ;; *) _cmds="$_cmds; set weight $backend/$server $_weight" ;; esac',
      '  _out=$(hap "$_cmds") || fail ready "cannot reach the HAProxy runtime API at $socket"',
      '  refused "$_cmds" ready',
      "else",
      '  case $_weight in ""|*[!0-9]*) read_stat ready weight; _weight=$value ;; esac',
      '  readmit_unchecked "$was" "$_weight"',
      "fi",
      "exec 8>&-",
      'if [ "$checked" = 1 ]; then say ready "$backend/$server set to $was (checked)"; exit 0; fi',
      'say ready "$backend/$server set to $was"',
      // A checked server is UP as soon as the command above returns; an unchecked one has
      // had its first check (readmit_unchecked): wait until HAProxy's checks say UP.
      'if [ "$was" = ready ]; then',
      ...WAIT_UP.map((l) => `  ${l}`),
      "fi",
    ],
    [READMIT_SH],
  );
}

// ─── overlap: two servers per host, one serving ─────────────────────────────────────────
// A host of the `overlap` strategy has one server per slot (standby.ts). The slot that does
// not serve is in maint with a marker `idle=1`, so it is never taken for an operator's.

/** Prints `<server> status=<HAProxy status> marker=<was|idle|none>` for the host's two servers, from one `show stat`. */
export function readSlotServers(t: HaproxyTarget & { standby: string }): string {
  const standby = validateHaproxyName(t.standby, "standby server");
  return haproxyScript(t, { step: "state", standby }, [
    MARKERS_SH,
    '_stats=$(hap "show stat") || fail state "cannot reach the HAProxy runtime API at $socket; is haproxy running?"',
    'for sv in "$server" "$standby"; do',
    "  st=$(printf '%s\\n' \"$_stats\" | tr -d '\\r' | awk -F, -v be=\"$backend\" -v sv=\"$sv\" 'NR == 1 { sub(/^# /, \"\"); for (i = 1; i <= NF; i++) idx[$i] = i; next } $1 == be && $2 == sv { print $(idx[\"status\"]); found = 1; exit } END { if (!found) exit 3 }') ||",
    '    fail state "$backend/$sv is not in HAProxy\'s \\"show stat\\"; the overlap strategy needs a server per slot in haproxy.cfg"',
    '  marker="$marker_dir/$sv"',
    "  m=$(marker_field was); [ -n \"$m\" ] || { [ -z \"$(marker_field idle)\" ] || m=idle; }",
    "  printf '%s status=%s marker=%s\\n' \"$sv\" \"$st\" \"${m:-none}\"",
    "done",
  ]);
}

/**
 * Moves a host's traffic from server `from` to server `to` (its other slot, which just passed
 * its check): under the LB lock `to` goes to `was` and is marked healthy, then `from` goes to
 * maint with the marker `idle=1`; then the requests `from` still serves finish (bounded). The
 * host always has a server in rotation: capacity never drops. With `from` unset (a host that
 * served nothing), only `to` is put in rotation.
 */
export function moveTraffic(w: Omit<HaproxyWait, "server"> & { to: string; was: "ready" | "drain"; from?: string }): string {
  const to = validateHaproxyName(w.to, "to");
  const from = w.from === undefined ? "" : validateHaproxyName(w.from, "from");
  const t = { ...w, server: from || to };
  return haproxyScript(
    t,
    { ...waitVars(t), step: "move", to, from, was: w.was },
    [
      MARKERS_SH,
      "lb_lock",
      'marker="$marker_dir/$to"; _weight=$(marker_field weight); rm -f -- "$marker"',
      '_cmds="set server $backend/$to state $was; set server $backend/$to health up"',
      'case $_weight in ""|*[!0-9]*) ;; *) _cmds="$_cmds; set weight $backend/$to $_weight" ;; esac',
      'if [ -n "$from" ]; then',
      "  printf 'idle=1\\n' > \"$marker_dir/$from.tmp\" && mv -f -- \"$marker_dir/$from.tmp\" \"$marker_dir/$from\" || fail move \"cannot write $marker_dir/$from\"",
      '  _cmds="$_cmds; set server $backend/$from state maint"',
      "fi",
      // One round trip: HAProxy runs the commands in order, so `to` serves before `from` stops taking requests.
      '_out=$(hap "$_cmds") || fail move "cannot reach the HAProxy runtime API at $socket"',
      'refused "$_cmds" move',
      "exec 8>&-",
      'say move "$backend/$to set to $was (checked)${from:+, $backend/$from to maint}"',
      '[ -n "$from" ] || exit 0',
      ...WAIT_NO_SESSIONS,
    ],
  );
}

/**
 * Prints `cutover-responses <total> <5xx>`: the responses `show stat` counts for the server
 * (hrsp_1xx … hrsp_other, and hrsp_5xx). Cumulative since HAProxy started: a canary reads it
 * at the start and the end of its hold and judges the difference.
 */
export function readResponses(t: HaproxyTarget): string {
  return haproxyScript(t, { step: "responses" }, [
    '_stats=$(hap "show stat") || fail responses "cannot reach the HAProxy runtime API at $socket; is haproxy running?"',
    "printf '%s\\n' \"$_stats\" | tr -d '\\r' | awk -F, -v be=\"$backend\" -v sv=\"$server\" '",
    '  NR == 1 { sub(/^# /, ""); for (i = 1; i <= NF; i++) idx[$i] = i; next }',
    '  $1 == be && $2 == sv { t = 0; split("hrsp_1xx hrsp_2xx hrsp_3xx hrsp_4xx hrsp_5xx hrsp_other", c, " "); for (k in c) t += $(idx[c[k]]); printf "cutover-responses %d %d\\n", t, $(idx["hrsp_5xx"]); found = 1; exit }',
    '  END { if (!found) exit 3 }\' ||',
    '  fail responses "$backend/$server is not in HAProxy\'s \\"show stat\\"; check the backend and server names in haproxy.cfg"',
  ]);
}

/**
 * The host's side of a cycle, in small scripts the runner calls in the order it decides
 * (lib/runner/cycle.ts is the one place that sequences a cycle):
 *
 * - probeCycle   read-only: is the target prepared, what is current, does it pass its check,
 *                was this redeploy nonce applied, is a job of an earlier attempt still running.
 * - startJob     starts a DURABLE job — `switch` (swap to the target, restart, check; on a failed
 *                check swap back to the release it replaced, restart, check that) or `restore`
 *                (swap back to the recorded previous release, restart, check) — detached from the
 *                SSH session (setsid: its own session, parent init), holding the host lock for
 *                exactly its lifetime, writing its output to `.cutover/jobs/<id>.log` and its
 *                outcome to `.cutover/jobs/<id>.result`. Returns once the job holds the lock.
 * - attachJob    waits (bounded) until that job has ended, then prints its outcome and log. A
 *                runner whose connection dropped, or a later `pulumi up` after the agent died,
 *                attaches again and reads what happened: the job never depended on it.
 * - watchStable  read-only: the host must keep passing its check for `stableSeconds`.
 *
 * Why a job and not a session: a shell tied to the SSH channel dies with it (SIGPIPE on its next
 * write), possibly between the swap and the restart. The job has no terminal, no channel, and
 * its stdio is a file; each step inside is bounded (`bounded`: restart, alive, check command),
 * so the job ends on its own within a limit the runner knows (see jobLimitSeconds).
 *
 * The check is the host's role's own: an HTTP GET on the host that must answer 2xx/3xx with
 * the release id in the body (the web role's smoke test), a command run in the release
 * directory that must exit 0, or none. Polled every 100 ms until its deadline, so a host is
 * back as soon as the app is ready rather than after a fixed wait.
 */
import { BOUNDED_SH, IS_RELEASE_ID_SH, hostScript } from "./common";
import { SWAP_SH, swapVars } from "./activate";
import { LockArgs } from "./lock";
import { layout } from "./layout";
import { PROBE_SLOTS_BODY, STANDBY_JOB_BODY, SlotCommands, SlotName, probeSlotsVars, slotsDir } from "./standby";
import { CutoverInputError, assertReleaseId, validateCommand, validateInteger, validateLabel } from "../plan";

export type HostCheck =
  | { kind: "http"; url: string; deadlineSeconds: number }
  | { kind: "command"; command: string; deadlineSeconds: number }
  | { kind: "none" };

/** Time limits of the commands a cycle runs on the host, in seconds. */
export interface CycleLimits {
  restart: number;
  alive: number;
  /** One run of a check command (an HTTP check is bounded by curl at 2 s a try). */
  checkCommand: number;
}

export const DEFAULT_CYCLE_LIMITS: CycleLimits = { restart: 120, alive: 10, checkCommand: 30 };

export interface CycleHostArgs {
  root: string;
  host: string;
  releaseId: string;
  restartCommand: string;
  /** Fails once the app has died (see Host.aliveCommand); run between the check's polls. */
  aliveCommand?: string;
  check: HostCheck;
  limits: CycleLimits;
  /** A redeploy nonce: a host that has not applied it restarts even on the target release. */
  redeploy?: string;
}

export interface JobArgs extends CycleHostArgs {
  /** standby: start the target in one slot of an overlap host (standby.ts); the restart, alive and check are that slot's. */
  kind: "switch" | "restore" | "standby";
  /** For `standby`: the slot to start, and how to stop it again if it fails its check. */
  standby?: { slot: SlotName; stopCommand: string };
  /** Unique per job; names its files under .cutover/jobs/. */
  jobId: string;
  /** Who deploys, recorded in history.log. */
  by: string;
  lock: Omit<LockArgs, "root" | "release" | "step">;
}

const JOB_ID = /^[A-Za-z0-9._-]{1,64}$/;

function validateUrl(value: string): string {
  let ok = false;
  try {
    const u = new URL(value);
    ok = (u.protocol === "http:" || u.protocol === "https:") && !/\s/.test(value);
  } catch {
    ok = false;
  }
  if (!ok) throw new CutoverInputError("check.url", value, "use an http:// or https:// URL on the host, e.g. \"http://127.0.0.1:8080/healthz\"");
  return value;
}

function checkVars(check: HostCheck): Record<string, string | number> {
  if (check.kind === "none") return { check_kind: "none", check_target: "", check_deadline: 0 };
  const deadline = validateInteger(check.deadlineSeconds, "deadlineSeconds", { min: 1, max: 3600, unit: "seconds" });
  return check.kind === "http"
    ? { check_kind: "http", check_target: validateUrl(check.url), check_deadline: deadline }
    : { check_kind: "command", check_target: validateCommand(check.command, "check.command"), check_deadline: deadline };
}

function limitVars(l: CycleLimits): Record<string, number> {
  const seconds = (v: number, name: string) => validateInteger(v, `timeouts.${name}`, { min: 1, max: 86_400, unit: "seconds" });
  return { restart_limit: seconds(l.restart, "restart"), alive_limit: seconds(l.alive, "alive"), check_limit: seconds(l.checkCommand, "checkCommand") };
}

/**
 * The longest a job can run: the restart and the check of the target, then of the release it
 * goes back to, each bounded, with room for the alive polls (each bounded too). The runner
 * waits that long, plus a margin, before it calls the outcome unknown.
 */
export function jobLimitSeconds(check: HostCheck, l: CycleLimits): number {
  const deadline = check.kind === "none" ? 0 : check.deadlineSeconds;
  // The deadline is read between polls: one poll (curl's 2 s, or a check command) and one
  // alive call can start just before it, and one more alive call follows it.
  const checkRound = deadline + (check.kind === "command" ? l.checkCommand : 2) + 2 * l.alive;
  return 2 * (l.restart + checkRound) + 10;
}

function cycleVars(a: CycleHostArgs): Record<string, string | number> {
  const l = layout(a.root);
  return {
    root: l.root,
    releases: l.releasesDir,
    current: l.current,
    cutover_dir: l.cutoverDir,
    jobs_dir: `${l.cutoverDir}/jobs`,
    redeploy_file: `${l.cutoverDir}/redeploy`,
    release_id: assertReleaseId(a.releaseId),
    redeploy: a.redeploy === undefined ? "" : validateLabel(a.redeploy, "redeploy"),
    restart_cmd: validateCommand(a.restartCommand, "restartCommand"),
    alive_cmd: a.aliveCommand === undefined ? "" : validateCommand(a.aliveCommand, "aliveCommand"),
    ...checkVars(a.check),
    ...limitVars(a.limits),
  };
}

/**
 * `check_release ID QUICK`: status 0 once the running app proves release ID (QUICK=1: one
 * try, for "is it already fine?"); otherwise $check_failure says why.
 *
 * Every process started here is on a hidden host's time out of rotation, and on a loaded
 * machine each costs milliseconds: a failed poll keeps its raw answer (made one line only
 * for the message) and the service manager is asked every third poll.
 */
const CHECK_SH = [
  "nl='",
  "'",
  "one_line() { printf '%s' \"$1\" | tr '\\n\\r\\t' '   ' | cut -c 1-200 | sed 's/ *$//'; }",
  "try_check() {",
  '  case $check_kind in',
  "    http)",
  "      if _out=$(curl -sS --max-time 2 -w '\\n%{http_code}' \"$check_target\" 2>&1 </dev/null 9>&-); then",
  '        _code=${_out##*"$nl"}',
  '        _body=${_out%"$nl"*}',
  '        case $_code in 2??|3??) case $_body in *"$1"*) return 0 ;; esac ;; esac',
  '        check_last="HTTP $_code: $_body"',
  "      else",
  "        check_last=$_out",
  "      fi",
  "      return 1 ;;",
  "    command)",
  '      export CUTOVER_RELEASE="$1"',
  // bounded runs in the $(…) subshell: its one-line reason arrives in the output (stderr).
  '      if _out=$(bounded check "$check_limit" "$current" "$check_target" 2>&1); then return 0; fi',
  "      check_last=$_out",
  "      return 1 ;;",
  "  esac",
  "}",
  // Between polls: an app its service manager reports dead will not become ready.
  "alive() {",
  '  [ -n "$alive_cmd" ] || return 0',
  '  if _out=$(bounded alive "$alive_limit" "$root" "$alive_cmd" 2>&1); then return 0; fi',
  "  alive_last=$_out",
  "  return 1",
  "}",
  'stopped() { check_failure="release $1 stopped after its restart ($_tries attempts): $(one_line "$alive_last"); last response: $(one_line "$check_last")"; }',
  "check_release() {",
  '  [ "$check_kind" != none ] || return 0',
  "  _end=$(( $(date +%s) + check_deadline ))",
  "  _tries=0",
  "  while :; do",
  "    _tries=$((_tries + 1))",
  '    if try_check "$1"; then say check "release $1 passes its $check_kind check (attempt $_tries)"; return 0; fi',
  '    [ "$2" = 1 ] && return 1',
  // Every third failed poll: a crash shows within ~0.3 s, a crash loop is seen between two of
  // its starts (supervisord says STARTING while each lasts), and a 1 s boot asks the service
  // manager three times rather than 10.
  '    if [ $((_tries % 3)) = 0 ] && ! alive; then stopped "$1"; return 1; fi',
  '    [ "$(date +%s)" -lt "$_end" ] || break',
  "    sleep 0.1",
  "  done",
  // At the deadline, once more: an app its service manager has given up on (or is between
  // two crashed starts of) did not fail its check by being slow; say what it is.
  '  if ! alive; then stopped "$1"; return 1; fi',
  '  if [ "$check_kind" = http ]; then',
  '    check_failure="smoke test: GET $check_target did not return release $1 within ${check_deadline}s ($_tries attempts); last response: $(one_line "$check_last")"',
  "  else",
  '    check_failure="check command did not pass for release $1 within ${check_deadline}s ($_tries attempts); last: $(one_line "$check_last")"',
  "  fi",
  "  return 1",
  "}",
  'restart() { bounded restart "$restart_limit" "$root" "$restart_cmd"; }',
].join("\n");

/** What a cycle can find on the host before it starts (probeCycle's one line). */
export type CycleProbe =
  | { state: "current" }
  | { state: "switch"; was: string }
  | { state: "running"; jobId: string }
  | { state: "unprepared" };

/** With `slots` (an overlap host), a `cutover-slots` line follows (standby.ts's parseSlotsProbe). */
export function probeCycle(a: CycleHostArgs & { slots?: Record<SlotName, SlotCommands> }): string {
  return hostScript({
    host: a.host,
    vars: { ...cycleVars(a), ...(a.slots ? probeSlotsVars(a.root, a.slots) : {}) },
    functions: [BOUNDED_SH, IS_RELEASE_ID_SH, SWAP_SH, CHECK_SH],
    body: [
      "check_link probe",
      // A job of an earlier attempt that has not ended: attach to it before anything else.
      'last=$(cat -- "$jobs_dir/latest" 2>/dev/null || true)',
      'if [ -n "$last" ] && [ ! -e "$jobs_dir/$last.result" ] && [ -e "$jobs_dir/$last.pid" ] && kill -0 "$(cat -- "$jobs_dir/$last.pid")" 2>/dev/null; then',
      '  echo "cutover-probe running $last"; exit 0',
      "fi",
      'if [ ! -f "$releases/$release_id/.prepared" ]; then echo "cutover-probe unprepared"; exit 0; fi',
      "was=$(current_id)",
      'applied=$(cat -- "$redeploy_file" 2>/dev/null || true)',
      'if [ "$was" = "$release_id" ] && { [ -z "$redeploy" ] || [ "$applied" = "$redeploy" ]; } && check_release "$release_id" 1 >/dev/null; then',
      '  echo "cutover-probe current"',
      "else",
      '  echo "cutover-probe switch ${was:-none}"',
      "fi",
      ...(a.slots ? PROBE_SLOTS_BODY : []),
    ],
  });
}

export function parseCycleProbe(stdout: string): CycleProbe | undefined {
  const m = /^cutover-probe (current|switch|running|unprepared)(?: (\S+))?$/m.exec(stdout);
  if (!m) return undefined;
  if (m[1] === "switch") return { state: "switch", was: m[2] ?? "none" };
  if (m[1] === "running") return { state: "running", jobId: m[2] ?? "" };
  return { state: m[1] } as CycleProbe;
}

/** `go_back TARGET REASON`: swap to TARGET, restart, check; finishes the job with the outcome. */
const GO_BACK_SH = [
  "go_back() {",
  '  if ! is_release_id "$1" || [ ! -f "$releases/$1/.prepared" ]; then finish "broken $2; there is no prepared release to go back to"; fi',
  '  if [ "$(current_id)" != "$1" ]; then swap_to "$1" restore; record restore "$1" "$release_id"; say restore "current -> releases/$1"; fi',
  '  if ! restart; then finish "broken $2; then $bounded_why"; fi',
  '  if ! check_release "$1" 0; then finish "broken $2; the release it went back to, $1, fails too: $check_failure"; fi',
  '  finish "restored $1 $2"',
  "}",
].join("\n");

/** The job's own shell: the lock, then the steps of its kind, then its outcome in a file. */
function jobBody(kind: JobArgs["kind"]): string[] {
  const common = [
    // The outcome file is written last and atomically: its presence means the job is over.
    "finish() { printf '%s\\n' \"$1\" > \"$result_file.tmp\" && mv -f -- \"$result_file.tmp\" \"$result_file\"; say job \"$1\"; exit 0; }",
    // A step that fails outright (fail) leaves the outcome unknown to the runner: say so.
    "fail() { printf 'cutover[%s] %s: %s\\n' \"$host\" \"$1\" \"$2\" >&2; printf 'failed %s: %s\\n' \"$1\" \"$2\" > \"$result_file.tmp\" && mv -f -- \"$result_file.tmp\" \"$result_file\"; exit 1; }",
    ': > "$started_file"',
    // Written by the job once it holds the lock: a refused start never hides the holder's job.
    "printf '%s\\n' \"$job_id\" > \"$jobs_dir/latest\"",
    "check_link cycle",
  ];
  if (kind === "standby") return [...common, ...STANDBY_JOB_BODY];
  if (kind === "switch") {
    return [
      ...common,
      '[ -f "$releases/$release_id/.prepared" ] || fail cycle "release $release_id is not prepared on this host; run pulumi up so its prepare step runs first"',
      "was=$(current_id)",
      'if [ "$was" != "$release_id" ]; then',
      '  if is_release_id "$was"; then',
      "    printf '%s\\n' \"$was\" > \"$previous_file.tmp\" && mv -f -- \"$previous_file.tmp\" \"$previous_file\" ||",
      '      fail switch "cannot record the previous release in $previous_file (disk full?); nothing was switched"',
      "  fi",
      '  swap_to "$release_id" switch',
      '  record activate "$release_id" "$was"',
      '  say switch "current -> releases/$release_id (was ${was:-none})"',
      "else",
      '  record activate "$release_id" "$was"',
      '  say switch "restarting $release_id in place (redeploy)"',
      "fi",
      // Only a host that switched has a release to go back to; a redeploy has none.
      'back=""; [ "$was" = "$release_id" ] || back=$was',
      'if ! restart; then go_back "$back" "$bounded_why"; fi',
      'if ! check_release "$release_id" 0; then go_back "$back" "$check_failure"; fi',
      '[ -z "$redeploy" ] || printf \'%s\\n\' "$redeploy" > "$redeploy_file" || warn switch "cannot record the redeploy nonce"',
      'finish "ok"',
    ];
  }
  return [
    ...common,
    'prev=$(cat -- "$previous_file" 2>/dev/null || true)',
    'is_release_id "$prev" && [ -f "$releases/$prev/.prepared" ] || fail restore "no prepared previous release is recorded in $previous_file"',
    "was=$(current_id)",
    'if [ "$was" != "$prev" ]; then swap_to "$prev" restore; record restore "$prev" "$was"; say restore "current -> releases/$prev"; fi',
    'if ! restart; then finish "broken $bounded_why"; fi',
    'if ! check_release "$prev" 0; then finish "broken $check_failure"; fi',
    'finish "ok"',
  ];
}

function standbyVars(a: JobArgs): Record<string, string> {
  if (!a.standby) throw new Error("internal: a standby job needs its slot");
  return { slots_dir: slotsDir(a.root), slot: a.standby.slot, stop_cmd: validateCommand(a.standby.stopCommand, "stopCommand") };
}

/**
 * Starts the job detached; once it holds the host lock prints `cutover-job started <id>`, or
 * fails with the lock holder's message (exit 75). With `attachSeconds`, it then attaches in the
 * same command (what attachJob prints follows): one round trip instead of two while the host is
 * out of rotation; if this command's connection dies, the job goes on and attachJob asks again.
 */
export function startJob(a: JobArgs & { attachSeconds?: number }): string {
  if (!JOB_ID.test(a.jobId)) throw new Error(`internal: bad job id ${JSON.stringify(a.jobId)}`);
  const vars = {
    ...cycleVars(a),
    ...swapVars(a.root, a.by),
    job_id: a.jobId,
    ...(a.kind === "standby" ? standbyVars(a) : {}),
  };
  const paths = {
    result_file: `${layout(a.root).cutoverDir}/jobs/${a.jobId}.result`,
    started_file: `${layout(a.root).cutoverDir}/jobs/${a.jobId}.started`,
    pid_file: `${layout(a.root).cutoverDir}/jobs/${a.jobId}.pid`,
    log_file: `${layout(a.root).cutoverDir}/jobs/${a.jobId}.log`,
  };
  const job = hostScript({
    host: a.host,
    lock: { ...a.lock, root: a.root, release: a.releaseId, step: a.kind === "restore" ? "restore" : "cycle" },
    vars: { ...vars, ...paths },
    functions: [BOUNDED_SH, IS_RELEASE_ID_SH, SWAP_SH, CHECK_SH, GO_BACK_SH],
    body: jobBody(a.kind),
  });
  return hostScript({
    host: a.host,
    vars: {
      jobs_dir: `${layout(a.root).cutoverDir}/jobs`,
      job_id: a.jobId,
      job,
      ...paths,
      lock_file: layout(a.root).lockFile,
      wait: validateInteger(a.attachSeconds ?? 0, "attachSeconds", { min: 0, max: 86_400, unit: "seconds" }),
    },
    functions: [READ_PID_SH],
    body: [
      '[ -d "$jobs_dir" ] || mkdir -p -- "$jobs_dir" || fail job "cannot create $jobs_dir"',
      // setsid -f: the job's parent is init and it has a session of its own, so neither the
      // SSH session ending nor a signal to this command's process group reaches it. The job
      // runs in the shell that wrote its pid (eval, not a second sh: the host is hidden now).
      'setsid -f sh -c \'echo $$ > "$1"; eval "$2"\' cutover-job "$pid_file" "$job" </dev/null >"$log_file" 2>&1',
      // Bounded wait until it holds the lock (or has ended: refused, or failed at once).
      "n=0",
      'while [ ! -e "$started_file" ]; do',
      "  read_pid",
      '  if [ -n "$_pid" ] && ! kill -0 "$_pid" 2>/dev/null && [ ! -e "$started_file" ]; then',
      '    cat -- "$log_file" >&2; exit 75',
      "  fi",
      "  n=$((n + 1))",
      '  [ "$n" -lt 500 ] || fail job "the job did not take the host lock within 10 s; see $log_file"',
      "  sleep 0.02",
      "done",
      'echo "cutover-job started $job_id"',
      // Old jobs' files (a week is plenty to read what happened), while the job runs.
      'find "$jobs_dir" -type f -mtime +7 -delete 2>/dev/null || true',
      '[ "$wait" -gt 0 ] || exit 0',
      ...ATTACH_BODY,
    ],
  });
}

/** A job's outcome as its result file says it. */
export type JobOutcome =
  /** warm: a standby job found its slot already running the release (no restart). */
  | { result: "ok"; warm?: true }
  | { result: "restored"; previous: string; reason: string }
  | { result: "broken"; reason: string }
  | { result: "failed"; reason: string };

export type AttachReply =
  | { state: "done"; outcome: JobOutcome; log: string }
  | { state: "running" }
  /** Ended without an outcome (killed from outside): what it did is unknown. */
  | { state: "gone"; log: string }
  /** Never took the lock: it changed nothing. */
  | { state: "never"; log: string };

/**
 * Waits up to `waitSeconds` for job `jobId` to end (it holds the host lock until it does: a
 * shared flock returns the moment it is freed), then prints `cutover-job done|running|gone`,
 * the outcome line and the job's log.
 */
export function attachJob(a: { root: string; host: string; jobId: string; waitSeconds: number }): string {
  if (!JOB_ID.test(a.jobId)) throw new Error(`internal: bad job id ${JSON.stringify(a.jobId)}`);
  const l = layout(a.root);
  return hostScript({
    host: a.host,
    vars: {
      lock_file: l.lockFile,
      result_file: `${l.cutoverDir}/jobs/${a.jobId}.result`,
      pid_file: `${l.cutoverDir}/jobs/${a.jobId}.pid`,
      started_file: `${l.cutoverDir}/jobs/${a.jobId}.started`,
      log_file: `${l.cutoverDir}/jobs/${a.jobId}.log`,
      wait: validateInteger(a.waitSeconds, "waitSeconds", { min: 1, max: 86_400, unit: "seconds" }),
    },
    functions: [READ_PID_SH],
    body: ATTACH_BODY,
  });
}

/** `read_pid`: $_pid is the job's pid from its pid file (empty until the job wrote it). */
const READ_PID_SH = 'read_pid() { _pid=""; [ ! -e "$pid_file" ] || read -r _pid < "$pid_file" || true; }';

/** Waits (bounded by $wait) for the job to free the host lock, then reports on it. */
const ATTACH_BODY = [
  // A shared lock on a descriptor of our own: flock is the only process started to wait.
  'if [ ! -e "$result_file" ] && [ -e "$lock_file" ]; then',
  '  exec 7<"$lock_file"',
  '  flock -s -w "$wait" 7 2>/dev/null || true',
  "  exec 7<&-",
  "fi",
  "read_pid",
  'if [ -e "$result_file" ]; then',
  '  read -r _result < "$result_file" || true',
  "  printf 'cutover-job done %s\\n' \"$_result\"",
  'elif [ -n "$_pid" ] && kill -0 "$_pid" 2>/dev/null; then',
  "  echo 'cutover-job running'; exit 0",
  'elif [ -e "$started_file" ]; then',
  "  echo 'cutover-job gone'",
  "else",
  "  echo 'cutover-job never'",
  "fi",
  'cat -- "$log_file" 2>/dev/null || true',
];

export function parseAttach(stdout: string): AttachReply | undefined {
  const nl = stdout.indexOf("\n");
  const first = nl < 0 ? stdout : stdout.slice(0, nl);
  const log = nl < 0 ? "" : stdout.slice(nl + 1);
  if (first === "cutover-job running") return { state: "running" };
  if (first === "cutover-job gone") return { state: "gone", log };
  if (first === "cutover-job never") return { state: "never", log };
  const m = /^cutover-job done (ok|restored|broken|failed)(?: (.*))?$/.exec(first);
  if (!m) return undefined;
  const rest = m[2] ?? "";
  if (m[1] === "ok") return { state: "done", outcome: rest === "warm" ? { result: "ok", warm: true } : { result: "ok" }, log };
  if (m[1] === "restored") {
    const sp = rest.indexOf(" ");
    return { state: "done", outcome: { result: "restored", previous: rest.slice(0, sp), reason: rest.slice(sp + 1) }, log };
  }
  return { state: "done", outcome: { result: m[1] as "broken" | "failed", reason: rest }, log };
}

/**
 * After a host is back in rotation: it must keep passing its check (and its service manager
 * keep it alive) for `stableSeconds`. Prints `cutover-stable ok` or `cutover-stable failed <why>`.
 */
export function watchStable(a: CycleHostArgs & { stableSeconds: number }): string {
  return hostScript({
    host: a.host,
    vars: { ...cycleVars(a), stable: validateInteger(a.stableSeconds, "stableSeconds", { min: 0, max: 3600, unit: "seconds" }) },
    functions: [BOUNDED_SH, IS_RELEASE_ID_SH, SWAP_SH, CHECK_SH],
    body: [
      "_end=$(( $(date +%s) + stable ))",
      "_n=0",
      'while [ "$(date +%s)" -lt "$_end" ]; do',
      "  _n=$((_n + 1))",
      // The service manager every other poll: a dead app fails the check too, twice in a row.
      '  if [ $((_n % 2)) = 1 ] && ! alive; then echo "cutover-stable failed release $release_id stopped within ${stable}s of passing its check: $(one_line "$alive_last")"; exit 0; fi',
      '  if [ "$check_kind" != none ] && ! try_check "$release_id"; then',
      // One failed poll can be a blip; two in a row are not.
      "    sleep 0.3",
      '    if ! try_check "$release_id"; then echo "cutover-stable failed release $release_id stopped passing its check within ${stable}s: $(one_line "$check_last")"; exit 0; fi',
      "  fi",
      "  sleep 0.5",
      "done",
      'echo "cutover-stable ok ($_n polls)"',
    ],
  });
}

export function parseStable(stdout: string): { ok: true } | { ok: false; reason: string } | undefined {
  if (/^cutover-stable ok/m.test(stdout)) return { ok: true };
  const m = /^cutover-stable failed (.*)$/m.exec(stdout);
  return m ? { ok: false, reason: m[1] } : undefined;
}

/**
 * The shape every on-host script shares, so each script file only holds its own steps:
 *
 *   set -eu
 *   host=web3                 ← every input becomes one quoted assignment (quote.ts)
 *   root=/srv/app
 *   fail() { … }              ← constant shell functions
 *   …body…                    ← constant shell text that only uses "$variables"
 *
 * Inputs are never spliced into command text: the body refers to them as double-quoted
 * variables, so the only place user data meets the shell is the quoted assignment.
 */
import { quote, script } from "./quote";
import { LOCK_FUNCTIONS, LockArgs, TAKE_LOCK, lockVars } from "./lock";

/** Shell variable names Cutover assigns; a constant identifier, never user input. */
type VarName = string;

export interface HostScript {
  /** Host label used in `cutover[<host>] <step>:` messages (any text; it is quoted). */
  host: string;
  /** Inputs, assigned in order as `name=<quoted value>`. */
  vars?: Record<VarName, string | number>;
  /** Constant helper functions (from this file) the body uses. */
  functions?: readonly string[];
  /** Body lines: Cutover's constant shell text, using inputs only as "$variables". */
  body: ReadonlyArray<string | false | undefined>;
  /** Run the whole body under the host's deploy lock (see lock.ts). */
  lock?: LockArgs;
}

const VAR_NAME = /^[a-z_][a-z0-9_]*$/;

export function assign(name: VarName, value: string | number): string {
  if (!VAR_NAME.test(name)) throw new Error(`internal: bad shell variable name ${JSON.stringify(name)}`);
  return `${name}=${quote(value)}`;
}

/** Builds a whole script: strict mode, quoted inputs, helpers, body. */
export function hostScript({ host, vars = {}, functions = [], body, lock }: HostScript): string {
  const allVars = lock ? { ...lockVars(lock), ...vars } : vars;
  return script([
    assign("host", host),
    ...Object.entries(allVars).map(([name, value]) => assign(name, value)),
    FAIL_SH,
    ...(lock ? [LOCK_FUNCTIONS] : []),
    ...functions,
    ...(lock ? TAKE_LOCK : []),
    ...body,
  ]);
}

/**
 * `fail STEP MESSAGE` prints `cutover[<host>] <step>: <message>` to stderr and exits 1;
 * `warn` prints the same shape with `warning:` and carries on; `say` reports progress on stdout.
 * printf's format is constant, values are arguments, so no input is read as a format.
 */
export const FAIL_SH = [
  "fail() { printf 'cutover[%s] %s: %s\\n' \"$host\" \"$1\" \"$2\" >&2; exit 1; }",
  "warn() { printf 'cutover[%s] %s: warning: %s\\n' \"$host\" \"$1\" \"$2\" >&2; }",
  "say() { printf 'cutover[%s] %s: %s\\n' \"$host\" \"$1\" \"$2\"; }",
].join("\n");

export { NOW_SH } from "./now";

// The character set of release ids, spelled out rather than as ranges: a range like [a-z]
// in a `case` pattern can follow the locale's collation in some shells.
const ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/**
 * `is_release_id NAME`: status 0 iff NAME matches plan/release-id's rule
 * (`<label>-<12 lowercase hex>`, label 1-40 of [A-Za-z0-9._-] starting alphanumeric).
 * `case` patterns, not grep: a name read from a listing may contain a newline, and a
 * line-based matcher would accept it if any one of its lines matched.
 */
export const IS_RELEASE_ID_SH = [
  "is_release_id() {",
  `  case $1 in [${ALNUM}]*) ;; *) return 1 ;; esac`,
  `  case $1 in *[!${ID_CHARS}]*) return 1 ;; esac`,
  "  _label=${1%-*}",
  "  _sha=${1##*-}",
  '  [ "$_label" != "$1" ] || return 1',
  "  [ ${#_label} -ge 1 ] && [ ${#_label} -le 40 ] && [ ${#_sha} -eq 12 ] || return 1",
  "  case $_sha in *[!0123456789abcdef]*) return 1 ;; esac",
  "}",
].join("\n");

/**
 * `bounded STEP LIMIT DIR COMMAND`: runs a command given as shell text (the user's restart,
 * alive or check command) with `sh -c` inside DIR, stdin from /dev/null, WITHOUT the deploy
 * lock's descriptor 9 (a daemon it starts must not keep the host locked after the deploy), and
 * under `timeout` LIMIT seconds (then KILL 5 s later; timeout signals the command's whole
 * process group, so nothing it started outlives a timed-out run). Returns the command's
 * status; `$bounded_why` says what went wrong in one line naming STEP, the limit and command.
 */
export const BOUNDED_SH = [
  "bounded() {",
  '  _b_step=$1 _b_limit=$2 _b_dir=$3 _b_cmd=$4',
  '  if (cd "$_b_dir" && exec timeout -k 5 "$_b_limit" sh -c "$_b_cmd") </dev/null 9>&-; then bounded_status=0; bounded_why=""; return 0; else bounded_status=$?; fi',
  // Named in messages on one line, cut to 120 characters (a restart command can be a script);
  // worked out only on failure: the alive command runs every few polls while a host is hidden.
  "  _b_show=$(printf '%s' \"$_b_cmd\" | tr '\\n' ' ' | cut -c 1-120)",
  "  case $bounded_status in",
  '    124|137) bounded_why="$_b_step did not finish within its limit of ${_b_limit}s (command: $_b_show)" ;;',
  '    *) bounded_why="$_b_step exited with status $bounded_status (command: $_b_show)" ;;',
  "  esac",
  // Also on stderr, for a caller that ran it inside $(…) where the variable does not reach.
  '  printf \'%s\\n\' "$bounded_why" >&2',
  '  return "$bounded_status"',
  "}",
].join("\n");

/**
 * `run_user STEP LIMIT DIR COMMAND`: runs a user-given shell command (install, build hook,
 * migration, backup) with `sh -c` inside DIR. The command is deliberately shell code; it
 * arrives as ONE quoted string and is never spliced into Cutover's own script text.
 * It sees CUTOVER_ROOT, CUTOVER_RELEASE, CUTOVER_RELEASE_DIR, CUTOVER_SHARED_DIR and
 * CUTOVER_HOST. When $app_user is set and differs from the SSH user, it runs as $app_user
 * (possible only when connected as root).
 *
 * Like `bounded`: stdin from /dev/null, WITHOUT the deploy lock's descriptor 9 (a daemon the
 * command starts must not keep the host locked after the deploy), and under `timeout` LIMIT
 * seconds, then KILL 5 s later; timeout signals its whole process group, so nothing the
 * command started outlives a run that timed out. A failure stops the script naming STEP, the
 * command and, when it ran out of time, the limit. A command killed (status 124 or 137) before
 * its limit is over, say by the OOM killer, is reported by its status, not as a timeout.
 * Expects $root, $release_id, $release_dir, $shared and $app_user to be set.
 */
export const RUN_USER_SH = [
  "run_user() {",
  '  _step=$1 _limit=$2 _dir=$3 _cmd=$4',
  '  command -v timeout >/dev/null 2>&1 || fail "$_step" "timeout (GNU coreutils) is not installed on this host; Cutover needs it to bound the command: $_cmd"',
  '  if [ -n "$app_user" ] && [ "$(id -un)" != "$app_user" ]; then',
  '    [ "$(id -u)" = 0 ] || fail "$_step" "connected as $(id -un), which cannot run commands as app user $app_user; connect as root or as $app_user"',
  '    set -- runuser -u "$app_user" --',
  "  else",
  "    set --",
  "  fi",
  '  _start=$(date +%s)',
  '  if (cd "$_dir" && exec timeout -k 5 "$_limit" "$@" env CUTOVER_ROOT="$root" CUTOVER_RELEASE="$release_id" CUTOVER_RELEASE_DIR="$release_dir" \\',
  '      CUTOVER_SHARED_DIR="$shared" CUTOVER_HOST="$host" sh -c "$_cmd") </dev/null 9>&-; then',
  "    return 0",
  "  else",
  "    _status=$?",
  "  fi",
  "  case $_status in",
  '    124|137) [ $(($(date +%s) - _start)) -lt "$_limit" ] || fail "$_step" "command did not finish within its limit of ${_limit}s: $_cmd" ;;',
  "  esac",
  '  fail "$_step" "command exited with status $_status: $_cmd"',
  "}",
].join("\n");

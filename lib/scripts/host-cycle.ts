/**
 * The host's side of one cycle, as ONE script that holds the host's deploy lock from start to
 * end and takes its orders on stdin from the runner (which meanwhile hides and unhides the host
 * on the load balancer):
 *
 *   → takes the lock, checks the target is prepared, reports on stdout
 *       `cutover-state current <id>`   already on the target and passing its check: nothing to do
 *       `cutover-state switch <was>`   needs the swap (and a restart)
 *   ← reads `switch`, `restore` or `done` (end of input = `done`: the runner went away before
 *     ordering a change, so nothing changes)
 *       switch: swap to the target, restart, check; on failure swap back to the previous
 *               release, restart, check that; reports `cutover-result ok`,
 *               `cutover-result restored <prev> <reason>` or `cutover-result broken <reason>`
 *       restore: swap back to the previous release (restoreCycled), restart, check it;
 *               reports `cutover-result ok` or `cutover-result broken <reason>`
 *   ← reads `prune` or `done`; prune deletes old releases and leftovers of failed attempts.
 *
 * Why one script: the lock is a descriptor of this very shell, so it is held exactly as long
 * as the host's cycle runs, and if the runner dies mid-switch the script still finishes the
 * switch (and its restore) under the lock instead of leaving the host half-done.
 *
 * The check is the host's role's own: an HTTP GET on the host that must answer 2xx/3xx with
 * the release id in the body (the web role's smoke test), a command run in the release
 * directory that must exit 0, or none. Polled every 100 ms until its deadline, so a host is
 * back as soon as the app is ready rather than after a fixed wait.
 */
import { IS_RELEASE_ID_SH, hostScript } from "./common";
import { SWAP_SH, swapVars } from "./activate";
import { PRUNE_SH, pruneVars } from "./prune";
import { LockArgs } from "./lock";
import { CutoverInputError, assertReleaseId, validateCommand, validateInteger } from "../plan";

export type HostCheck =
  | { kind: "http"; url: string; deadlineSeconds: number }
  | { kind: "command"; command: string; deadlineSeconds: number }
  | { kind: "none" };

export interface HostCycleArgs {
  root: string;
  host: string;
  releaseId: string;
  restartCommand: string;
  /** Fails once the app has died (see Host.aliveCommand); run between the check's polls. */
  aliveCommand?: string;
  /** Who deploys, recorded in history.log. */
  by: string;
  check: HostCheck;
  keepReleases: number;
  lock: Omit<LockArgs, "root" | "release" | "step">;
}

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

/**
 * `check_release ID QUICK`: status 0 once the running app proves release ID (QUICK=1: one
 * try, for "is it already fine?"); otherwise $check_failure says why.
 */
const CHECK_SH = [
  "one_line() { printf '%s' \"$1\" | tr '\\n\\r\\t' '   ' | cut -c 1-200 | sed 's/ *$//'; }",
  "try_check() {",
  '  case $check_kind in',
  "    http)",
  "      if _out=$(curl -sS --max-time 2 -w '\\n%{http_code}' \"$check_target\" 2>&1 </dev/null); then",
  '        _code=${_out##*"$nl"}',
  '        _body=${_out%"$nl"*}',
  '        case $_code in 2??|3??) case $_body in *"$1"*) return 0 ;; esac ;; esac',
  '        check_last="HTTP $_code: $(one_line "$_body")"',
  "      else",
  '        check_last=$(one_line "$_out")',
  "      fi",
  "      return 1 ;;",
  "    command)",
  // $? after a bare `if …; fi` is the if's own 0: the command's status is read in its else.
  '      if _out=$(cd "$current" && CUTOVER_RELEASE="$1" sh -c "$check_target" 2>&1 </dev/null); then return 0; else _status=$?; fi',
  '      check_last="exit $_status: $(one_line "$_out")"',
  "      return 1 ;;",
  "  esac",
  "}",
  // Between polls: an app its service manager reports dead will not become ready.
  "alive() {",
  '  [ -n "$alive_cmd" ] || return 0',
  '  if _out=$(cd "$root" && sh -c "$alive_cmd" 2>&1 </dev/null); then return 0; fi',
  '  alive_last=$(one_line "$_out")',
  "  return 1",
  "}",
  "check_release() {",
  '  [ "$check_kind" != none ] || return 0',
  "  _end=$(( $(date +%s) + check_deadline ))",
  "  _tries=0",
  "  while :; do",
  "    _tries=$((_tries + 1))",
  '    if try_check "$1"; then say check "release $1 passes its $check_kind check (attempt $_tries)"; return 0; fi',
  '    [ "$2" = 1 ] && return 1',
  // Every fifth failed poll from the first: a crash shows within ~0.5 s, and a 1 s boot asks
  // the service manager 3 times rather than 10 (each is a process on the host, and for
  // supervisord a call into its Python, competing with the app's own start for the CPU).
  '    if [ $((_tries % 5)) = 1 ] && ! alive; then',
  '      check_failure="release $1 stopped after its restart ($_tries attempts): $alive_last; last response: $check_last"',
  "      return 1",
  "    fi",
  '    [ "$(date +%s)" -lt "$_end" ] || break',
  "    sleep 0.1",
  "  done",
  '  if [ "$check_kind" = http ]; then',
  '    check_failure="smoke test: GET $check_target did not return release $1 within ${check_deadline}s ($_tries attempts); last response: $check_last"',
  "  else",
  '    check_failure="check command did not pass for release $1 within ${check_deadline}s ($_tries attempts); last: $check_last"',
  "  fi",
  "  return 1",
  "}",
].join("\n");

/** `go_back REASON`: swap to the recorded previous release, restart, check; reports the result. */
const GO_BACK_SH = [
  "go_back() {",
  '  prev=$(cat -- "$previous_file" 2>/dev/null || true)',
  '  if ! is_release_id "$prev" || [ "$prev" = "$release_id" ] || [ ! -f "$releases/$prev/.prepared" ]; then',
  '    echo "cutover-result broken $1; there is no prepared previous release to go back to"',
  "    return",
  "  fi",
  '  swap_to "$prev" restore',
  '  record restore "$prev" "$release_id"',
  '  say restore "current -> releases/$prev"',
  '  if ! restart; then echo "cutover-result broken $1; the restart of the previous release $prev failed too"; return; fi',
  '  if ! check_release "$prev" 0; then echo "cutover-result broken $1; the previous release $prev fails too: $check_failure"; return; fi',
  '  echo "cutover-result restored $prev $1"',
  "}",
].join("\n");

export function hostCycle(a: HostCycleArgs): string {
  const id = assertReleaseId(a.releaseId);
  return hostScript({
    host: a.host,
    lock: { ...a.lock, root: a.root, release: id, step: "cycle" },
    vars: {
      ...swapVars(a.root, a.restartCommand, a.by),
      ...pruneVars(a.root, a.keepReleases),
      release_id: id,
      alive_cmd: a.aliveCommand === undefined ? "" : validateCommand(a.aliveCommand, "aliveCommand"),
      ...checkVars(a.check),
    },
    functions: [IS_RELEASE_ID_SH, SWAP_SH, CHECK_SH, GO_BACK_SH, PRUNE_SH],
    body: [
      "nl='",
      "'",
      "check_link cycle",
      '[ -f "$releases/$release_id/.prepared" ] ||',
      '  fail cycle "release $release_id is not prepared on this host ($releases/$release_id/.prepared is missing); run `pulumi up` so its prepare step runs first"',
      "was=$(current_id)",
      'if [ "$was" = "$release_id" ] && check_release "$release_id" 1; then',
      '  echo "cutover-state current $was"',
      "else",
      '  echo "cutover-state switch ${was:-none}"',
      "fi",
      "read -r order || order=done",
      "case $order in",
      "  switch)",
      '    if [ "$was" != "$release_id" ]; then',
      '      if is_release_id "$was"; then',
      "        printf '%s\\n' \"$was\" > \"$previous_file.tmp\" && mv -f -- \"$previous_file.tmp\" \"$previous_file\" ||",
      '          fail switch "cannot record the previous release in $previous_file (disk full?); nothing was switched"',
      "      fi",
      '      swap_to "$release_id" switch',
      '      record activate "$release_id" "$was"',
      '      say switch "current -> releases/$release_id (was ${was:-none})"',
      "    fi",
      "    if restart; then",
      '      if check_release "$release_id" 0; then echo "cutover-result ok"; else go_back "$check_failure"; fi',
      "    else",
      '      go_back "restart command exited with status $? for release $release_id"',
      "    fi ;;",
      "  restore)",
      '    prev=$(cat -- "$previous_file" 2>/dev/null || true)',
      '    is_release_id "$prev" && [ -f "$releases/$prev/.prepared" ] || fail restore "no prepared previous release is recorded in $previous_file"',
      '    if [ "$was" != "$prev" ]; then swap_to "$prev" restore; record restore "$prev" "$was"; say restore "current -> releases/$prev"; fi',
      "    if ! restart; then",
      '      echo "cutover-result broken the restart of the previous release $prev failed"',
      '    elif check_release "$prev" 0; then',
      '      echo "cutover-result ok"',
      "    else",
      '      echo "cutover-result broken $check_failure"',
      "    fi ;;",
      "  *) exit 0 ;;",
      "esac",
      // Holding the lock until the runner has put the host back in rotation; then prune.
      "read -r order || order=done",
      '[ "$order" = prune ] || exit 0',
      "prune_releases",
    ],
  });
}

/** What the host reported on stdout, parsed. */
export type CycleState = { state: "current" } | { state: "switch"; was: string };
export type CycleResult = { result: "ok" } | { result: "restored"; previous: string; reason: string } | { result: "broken"; reason: string };

export function parseCycleState(line: string): CycleState | undefined {
  const m = /^cutover-state (current|switch) (\S+)$/.exec(line);
  if (!m) return undefined;
  return m[1] === "current" ? { state: "current" } : { state: "switch", was: m[2] };
}

export function parseCycleResult(line: string): CycleResult | undefined {
  if (line === "cutover-result ok") return { result: "ok" };
  const restored = /^cutover-result restored (\S+) (.*)$/.exec(line);
  if (restored) return { result: "restored", previous: restored[1], reason: restored[2] };
  const broken = /^cutover-result broken (.*)$/.exec(line);
  if (broken) return { result: "broken", reason: broken[1] };
  return undefined;
}

/**
 * Activate: point `current` at a prepared release and restart the service.
 *
 * The swap is `ln -sfn releases/<id> current.tmp && mv -T current.tmp current`: rename(2)
 * replaces the link atomically, so there is never a moment without `current`. The link
 * target is relative (`releases/<id>`), so the root may be moved or bind-mounted.
 *
 * Bookkeeping, all on the host:
 * - `.cutover/previous` gets the release that was current (the rollback target, and what
 *   prune never deletes). A re-run when the release is already current leaves it alone, so a
 *   retry can never make previous equal to the new release and lose the rollback target.
 * - `releases/<id>/.activated` is touched: prune orders releases by it.
 * - history.log gets one JSON line per swap, written right after the swap (it records what
 *   `current` pointed to and when, even if the restart then fails):
 *   {"release":"…","previous":"…"|null,"time":"…","by":"…","action":"activate"|"restore"}
 *   Ids are plain [A-Za-z0-9._-] text (checked by is_release_id before use); `by` is
 *   JSON-encoded here in TypeScript and passed as one quoted value.
 *
 * If the restart fails, the script swaps back to the previous release and restarts that,
 * then fails: a host must not be left serving (or crash-looping on) a release that never
 * started while the rollout stops.
 */
import { IS_RELEASE_ID_SH, NOW_SH, hostScript } from "./common";
import { layout } from "./layout";
import { assertReleaseId, validateCommand, validateLabel } from "../plan";

export interface ActivateArgs {
  root: string;
  releaseId: string;
  host: string;
  /** Shell command that restarts/reloads the app (ServiceManager.restartCommand()). */
  restartCommand: string;
  /** Who deploys, recorded in history.log. */
  by: string;
}

export interface RestoreArgs {
  root: string;
  host: string;
  restartCommand: string;
  by: string;
}

/** Shared helpers: atomic swap, history line, restart. */
const SWAP_SH = [
  "current_id() { _t=$(readlink -- \"$current\" 2>/dev/null || true); printf '%s' \"${_t##*/}\"; }",
  "swap_to() {",
  '  rm -f -- "$current.tmp"',
  '  ln -sfn -- "releases/$1" "$current.tmp" || fail "$2" "cannot create $current.tmp"',
  '  mv -T -- "$current.tmp" "$current" || fail "$2" "cannot replace $current with the link to releases/$1"',
  '  touch -- "$releases/$1/.activated" || true',
  "}",
  "record() {",
  "  if is_release_id \"$3\"; then _prev=\"\\\"$3\\\"\"; else _prev=null; fi",
  '  mkdir -p -- "$cutover_dir" &&',
  "  printf '{\"release\":\"%s\",\"previous\":%s,\"time\":\"%s\",\"by\":%s,\"action\":\"%s\"}\\n' \\",
  '    "$2" "$_prev" "$(now)" "$by_json" "$1" >> "$history" || warn "$1" "cannot append to $history"',
  "}",
  'restart() { (cd "$root" && sh -c "$restart_cmd"); }',
  "check_link() {",
  '  if [ -e "$current" ] && [ ! -L "$current" ]; then',
  '    fail "$1" "$current is a real directory or file, not a symlink; move it away so Cutover can manage it"',
  "  fi",
  "}",
].join("\n");

function vars(root: string, restartCommand: string, by: string) {
  const l = layout(root);
  return {
    root: l.root,
    releases: l.releasesDir,
    current: l.current,
    cutover_dir: l.cutoverDir,
    previous_file: l.previousFile,
    history: l.historyLog,
    restart_cmd: validateCommand(restartCommand, "restartCommand"),
    by_json: JSON.stringify(validateLabel(by, "by")),
  };
}

export function activateRelease({ root, releaseId, host, restartCommand, by }: ActivateArgs): string {
  const id = assertReleaseId(releaseId);
  return hostScript({
    host,
    vars: { ...vars(root, restartCommand, by), release_id: id },
    functions: [NOW_SH, IS_RELEASE_ID_SH, SWAP_SH],
    body: [
      '[ -f "$releases/$release_id/.prepared" ] ||',
      '  fail activate "release $release_id is not prepared on this host ($releases/$release_id/.prepared is missing); run prepare first"',
      "check_link activate",
      "was=$(current_id)",
      'if [ "$was" = "$release_id" ]; then',
      '  say activate "release $release_id is already current"',
      "else",
      '  if is_release_id "$was"; then',
      '    mkdir -p -- "$cutover_dir" &&',
      "    printf '%s\\n' \"$was\" > \"$previous_file.tmp\" &&",
      '    mv -f -- "$previous_file.tmp" "$previous_file" || fail activate "cannot record the previous release in $previous_file"',
      "  fi",
      '  swap_to "$release_id" activate',
      '  record activate "$release_id" "$was"',
      '  say activate "current -> releases/$release_id (was ${was:-none})"',
      "fi",
      "if restart; then",
      '  say restart "done"',
      "  exit 0",
      "else",
      "  status=$?",
      "fi",
      'prev=$(cat -- "$previous_file" 2>/dev/null || true)',
      'if is_release_id "$prev" && [ "$prev" != "$release_id" ] && [ -f "$releases/$prev/.prepared" ]; then',
      '  swap_to "$prev" restart',
      '  record restore "$prev" "$release_id"',
      '  restart || warn restart "restarting the restored release $prev failed too"',
      '  fail restart "restart command exited with status $status; restored the previous release $prev — fix the release and deploy again"',
      "fi",
      'fail restart "restart command exited with status $status and there is no previous release to go back to; current stays on $release_id"',
    ],
  });
}

/**
 * Rollback of one host after a failed smoke test: swap `current` back to the recorded
 * previous release and restart. Re-running is safe: once current is the previous release
 * the swap is skipped (the restart still runs, in case the first one failed). The previous
 * file is left as it is, so prune keeps protecting the restored release.
 */
export function restorePrevious({ root, host, restartCommand, by }: RestoreArgs): string {
  return hostScript({
    host,
    vars: vars(root, restartCommand, by),
    functions: [NOW_SH, IS_RELEASE_ID_SH, SWAP_SH],
    body: [
      '[ -f "$previous_file" ] ||',
      '  fail restore "no previous release is recorded in $previous_file (first deploy on this host?); fix forward and deploy again"',
      'prev=$(cat -- "$previous_file")',
      'is_release_id "$prev" || fail restore "$previous_file does not hold a release id; inspect it on the host"',
      '[ -f "$releases/$prev/.prepared" ] ||',
      '  fail restore "previous release $prev is no longer prepared on this host ($releases/$prev/.prepared is missing); deploy a known good version instead"',
      "check_link restore",
      "was=$(current_id)",
      'if [ "$was" = "$prev" ]; then',
      '  say restore "release $prev is already current"',
      "else",
      '  swap_to "$prev" restore',
      '  record restore "$prev" "$was"',
      '  say restore "current -> releases/$prev (was ${was:-none})"',
      "fi",
      'restart || fail restart "restart command exited with status $? after restoring $prev"',
      'say restart "done"',
    ],
  });
}

/**
 * The swap: point `current` at a prepared release. `ln -sfn releases/<id> current.tmp && mv -T
 * current.tmp current`: rename(2) replaces the link atomically, so there is never a moment
 * without `current`. The link target is relative (`releases/<id>`), so the root may be moved.
 *
 * Bookkeeping, all on the host (used by host-job.ts):
 * - `.cutover/previous` gets the release that was current (the rollback target, and what
 *   prune never deletes); a re-run when the release is already current leaves it alone.
 * - `releases/<id>/.activated` is touched: prune orders releases by it.
 * - history.log gets one JSON line per swap, right after it:
 *   {"release":"…","previous":"…"|null,"time":"…","by":"…","action":"activate"|"restore"}
 *   Ids are plain [A-Za-z0-9._-] text (checked by is_release_id before use); `by` is
 *   JSON-encoded in TypeScript and passed as one quoted value.
 */
import { layout } from "./layout";
import { validateLabel } from "../plan";

/** Shared helpers: atomic swap, history line. */
export const SWAP_SH = [
  "current_id() { _t=$(readlink -- \"$current\" 2>/dev/null || true); printf '%s' \"${_t##*/}\"; }",
  "swap_to() {",
  '  rm -f -- "$current.tmp"',
  '  ln -sfn -- "releases/$1" "$current.tmp" || fail "$2" "cannot create $current.tmp"',
  '  mv -T -- "$current.tmp" "$current" || fail "$2" "cannot replace $current with the link to releases/$1"',
  '  touch -- "$releases/$1/.activated" || true',
  "}",
  "record() {",
  "  if is_release_id \"$3\"; then _prev=\"\\\"$3\\\"\"; else _prev=null; fi",
  '  { [ -d "$cutover_dir" ] || mkdir -p -- "$cutover_dir"; } &&',
  "  printf '{\"release\":\"%s\",\"previous\":%s,\"time\":\"%s\",\"by\":%s,\"action\":\"%s\"}\\n' \\",
  '    "$2" "$_prev" "$(now)" "$by_json" "$1" >> "$history" || warn "$1" "cannot append to $history"',
  "}",
  "check_link() {",
  '  if [ -e "$current" ] && [ ! -L "$current" ]; then',
  '    fail "$1" "$current is a real directory or file, not a symlink; move it away so Cutover can manage it"',
  "  fi",
  "}",
].join("\n");

export function swapVars(root: string, by: string) {
  const l = layout(root);
  return {
    root: l.root,
    releases: l.releasesDir,
    current: l.current,
    cutover_dir: l.cutoverDir,
    previous_file: l.previousFile,
    history: l.historyLog,
    by_json: JSON.stringify(validateLabel(by, "by")),
  };
}

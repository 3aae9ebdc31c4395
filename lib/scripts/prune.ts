/**
 * Prune on the host, by the same rules as plan/prune.ts (a test runs both on the same
 * layouts and compares their decisions):
 * - only directories named like release ids are considered (foreign names, symlinks and
 *   `.<id>.partial` unpacks are never touched);
 * - current (the target of the `current` link) and previous (`.cutover/previous`) stay;
 * - directories without `.prepared` go, unless current or previous;
 * - of the prepared ones, `keep` stay in total, current and previous included, newest first.
 * "Newest" is activation order: the mtime of `.activated` (touched by every swap to the
 * release), else of `.prepared` for releases never activated. Ids themselves carry no order.
 *
 * Leftovers of failed attempts go too: `.<id>.partial` unpacks and uploads. That is only safe
 * under the host lock (no prepare can be running), which the cycle holds when it prunes.
 */
import { IS_RELEASE_ID_SH, hostScript } from "./common";
import { layout } from "./layout";
import { LockArgs } from "./lock";
import { validateKeepReleases } from "../plan";

export interface PruneArgs {
  root: string;
  /** Releases to keep in total, current and previous included (≥ 2). */
  keep: number;
  host: string;
}

/** Variables PRUNE_SH uses. */
function pruneVars(root: string, keep: number): Record<string, string | number> {
  const l = layout(root);
  return { releases: l.releasesDir, current: l.current, previous_file: l.previousFile, uploads: l.uploadsDir, keep: validateKeepReleases(keep) };
}

/** `prune_releases`: the whole decision, as a function so the cycle script can call it. */
const PRUNE_SH = [
  "prune_releases() {",
      'if [ ! -d "$releases" ]; then say prune "no releases yet"; return 0; fi',
      'cur=$(readlink -- "$current" 2>/dev/null || true)',
      "cur=${cur##*/}",
      'prev=$(cat -- "$previous_file" 2>/dev/null || true)',
      "is_release_id \"$cur\" || cur=''",
      "is_release_id \"$prev\" || prev=''",
      "",
      // One line per candidate: "<activation mtime> <1 if prepared> <id>". Safe to read back
      // line by line because is_release_id admits no whitespace.
      "listing=''",
      "slots=$keep",
      'for dir in "$releases"/*; do',
      '  name=${dir##*/}',
      '  is_release_id "$name" || continue',
      '  [ -d "$dir" ] && [ ! -L "$dir" ] || continue',
      '  if [ -f "$dir/.prepared" ]; then good=1; else good=0; fi',
      '  stamp=$(stat -c %Y -- "$dir/.activated" 2>/dev/null || stat -c %Y -- "$dir/.prepared" 2>/dev/null || stat -c %Y -- "$dir")',
      '  listing="$listing$stamp $good $name',
      '"',
      '  if [ "$name" = "$cur" ] || [ "$name" = "$prev" ]; then slots=$((slots - 1)); fi',
      "done",
      "",
      "pruned=0",
      // Newest first; here-document rather than a pipe so the loop runs in this shell.
      'sorted=$(printf \'%s\' "$listing" | sort -k1,1nr -k3,3r)',
      "while read -r stamp good name; do",
      '  [ -n "$name" ] || continue',
      '  if [ "$name" = "$cur" ] || [ "$name" = "$prev" ]; then continue; fi',
      '  if [ "$good" = 1 ] && [ "$slots" -gt 0 ]; then slots=$((slots - 1)); continue; fi',
      '  rm -rf -- "$releases/$name" || fail prune "cannot delete $releases/$name"',
      '  say prune "deleted $name"',
      "  pruned=$((pruned + 1))",
      "done <<EOF",
      "$sorted",
      "EOF",
      'say prune "kept current ${cur:-none}, previous ${prev:-none}; deleted $pruned release(s)"',
      'for dir in "$releases"/.*.partial "$uploads"/*; do',
      '  [ -e "$dir" ] || continue',
      '  rm -rf -- "$dir" || fail prune "cannot delete $dir"',
      '  say prune "removed $dir, left by an unfinished attempt"',
      "done",
  "}",
].join("\n");

/** Prune as a script of its own (under the host lock when `lock` is given). */
export function pruneReleases({ root, keep, host, lock }: PruneArgs & { lock?: LockArgs }): string {
  return hostScript({ host, vars: pruneVars(root, keep), functions: [IS_RELEASE_ID_SH, PRUNE_SH], body: ["prune_releases"], lock });
}

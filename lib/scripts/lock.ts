/**
 * The per-host deploy lock: `<root>/.cutover/lock`, taken with a plain `mkdir`, which is
 * atomic on every POSIX filesystem (exactly one of two racing deploys creates it).
 *
 * Inside, `info` holds one `key=value` line each for owner, stack, release, host, pid and
 * time. It is written to a temporary name and renamed, so a reader sees all of it or none.
 * (pid is the shell that took the lock; each remote step is a new SSH session, so a live pid
 * cannot prove a deploy is still running — the message asks a human instead of guessing.)
 *
 * Re-entrancy: a lock whose owner, stack AND release all match is re-acquired (and its time
 * refreshed). That is a retry of the same deploy after a failed step, which must not
 * deadlock on its own lock. The same owner and stack deploying a *different* release meets
 * the lock of an earlier deploy that never finished; that is reported, not taken over,
 * because the earlier deploy may have left hosts hidden or half-cycled.
 */
import { quote } from "./quote";
import { NOW_SH, hostScript } from "./common";
import { layout } from "./layout";
import { assertReleaseId, validateLabel } from "../plan";

/** Exit status of acquireLock when another deploy holds the lock (EX_TEMPFAIL). */
export const LOCK_HELD_EXIT_CODE = 75;

export interface LockArgs {
  root: string;
  /** Who deploys: a user name or "Name <email>"; one line of text. */
  owner: string;
  /** The Pulumi stack deploying (e.g. "prod"). */
  stack: string;
  /** The release being deployed; with owner and stack it identifies one deploy. */
  release: string;
  /** Host label for messages. */
  host: string;
}

export interface UnlockArgs {
  root: string;
  owner: string;
  stack: string;
  host: string;
}

/** Shell that prints the lock holder as `alice (stack prod, release v1-…) since <time>`. */
const HOLDER_SH = [
  "field() { sed -n \"s/^$1=//p\" \"$lock/info\" 2>/dev/null | head -n 1; }",
  "holder() {",
  '  if [ -f "$lock/info" ]; then',
  "    printf '%s (stack %s, release %s) since %s' \"$(field owner)\" \"$(field stack)\" \"$(field release)\" \"$(field time)\"",
  "  else",
  "    printf 'an unknown deploy (no %s; it may have died while taking the lock)' \"$lock/info\"",
  "  fi",
  "}",
  'held_by() { [ -f "$lock/info" ] && grep -Fxq -- "owner=$owner" "$lock/info" && grep -Fxq -- "stack=$stack" "$lock/info"; }',
].join("\n");

export function acquireLock({ root, owner, stack, release, host }: LockArgs): string {
  const l = layout(root);
  return hostScript({
    host,
    vars: {
      cutover_dir: l.cutoverDir,
      lock: l.lockDir,
      owner: validateLabel(owner, "owner"),
      stack: validateLabel(stack, "stack"),
      release: assertReleaseId(release, "release"),
      unlock_hint: `cutover unlock --stack ${quote(stack)}`,
      rm_hint: `rm -rf ${quote(l.lockDir)}`,
      held_code: LOCK_HELD_EXIT_CODE,
    },
    functions: [NOW_SH, HOLDER_SH],
    body: [
      'mkdir -p -- "$cutover_dir" || fail lock "cannot create $cutover_dir; check that the deploy user owns the deploy root"',
      "write_info() {",
      "  printf 'owner=%s\\nstack=%s\\nrelease=%s\\nhost=%s\\npid=%s\\ntime=%s\\n' \\",
      '    "$owner" "$stack" "$release" "$host" "$$" "$(now)" > "$lock/info.tmp" &&',
      '  mv -f -- "$lock/info.tmp" "$lock/info" || fail lock "cannot write $lock/info"',
      "}",
      'if mkdir -- "$lock" 2>/dev/null; then',
      "  write_info",
      '  say lock "acquired for $owner (stack $stack, release $release)"',
      "  exit 0",
      "fi",
      '[ -d "$lock" ] || fail lock "cannot create $lock; check that the deploy user owns $cutover_dir"',
      'if held_by && grep -Fxq -- "release=$release" "$lock/info"; then',
      "  write_info",
      '  say lock "already held by this deploy ($owner, stack $stack, release $release); continuing"',
      "  exit 0",
      "fi",
      "printf 'cutover: host %s is locked by %s; if no deploy is running, run `%s` (or %s on the host)\\n' \\",
      '  "$host" "$(holder)" "$unlock_hint" "$rm_hint" >&2',
      'exit "$held_code"',
    ],
  });
}

/** Removes the lock only if this owner+stack holds it; absent lock = nothing to do. */
export function releaseLock({ root, owner, stack, host }: UnlockArgs): string {
  const l = layout(root);
  return hostScript({
    host,
    vars: { lock: l.lockDir, owner: validateLabel(owner, "owner"), stack: validateLabel(stack, "stack") },
    functions: [HOLDER_SH],
    body: [
      'if [ ! -d "$lock" ]; then say unlock "not locked"; exit 0; fi',
      "if held_by; then",
      '  rm -rf -- "$lock" || fail unlock "cannot remove $lock"',
      '  say unlock "released"',
      "else",
      // Not ours: leaving it is the safe choice, and failing here would fail a deploy that
      // itself succeeded, so warn and carry on.
      '  warn unlock "$lock is held by $(holder), not by $owner (stack $stack); leaving it"',
      "fi",
    ],
  });
}

/**
 * For `cutover unlock --stack <stack>`: removes the lock if it is held by that stack (any
 * owner) or if its info is missing, and prints who held it. A lock of another stack is
 * refused, since that deploy may well be running.
 */
export function breakLock({ root, stack, host }: { root: string; stack: string; host: string }): string {
  const l = layout(root);
  return hostScript({
    host,
    vars: { lock: l.lockDir, stack: validateLabel(stack, "stack"), owner: "" },
    functions: [HOLDER_SH],
    body: [
      'if [ ! -d "$lock" ]; then say unlock "not locked"; exit 0; fi',
      'if [ ! -f "$lock/info" ] || grep -Fxq -- "stack=$stack" "$lock/info"; then',
      '  was=$(holder)',
      '  rm -rf -- "$lock" || fail unlock "cannot remove $lock"',
      '  say unlock "removed the lock held by $was"',
      "else",
      '  fail unlock "the lock is held by $(holder), not by stack $stack; unlock it with that stack\'s name if you are sure it is not deploying"',
      "fi",
    ],
  });
}

/**
 * The per-host deploy lock: `flock` on `<root>/.cutover/deploy.lock`, held on a descriptor
 * of the very shell that does the work. The kernel frees it the moment that process ends —
 * success, failure, a killed SSH session, a reboot — so there is no stale lock to clear and
 * no "unlock" step that a failed deploy could skip. A step whose SSH client died keeps
 * running on the host and keeps holding the lock, so a retry can never run beside it (a
 * migration runs once).
 *
 * The holder is recorded in `deploy.lock.info` (owner, stack, release, step, pid, time),
 * written after the lock is taken, only for messages: a refused deploy is told who holds the
 * lock, since when, and what to do.
 */
import { NOW_SH } from "./now";
import { layout } from "./layout";
import { assertReleaseId, validateLabel } from "../plan";

/** Exit status of a step refused because another deploy holds the host (EX_TEMPFAIL). */
export const LOCK_HELD_EXIT_CODE = 75;

export interface LockArgs {
  root: string;
  /** Who deploys: a user name or "Name <email>"; one line of text. */
  owner: string;
  /** The Pulumi stack deploying (e.g. "prod"). */
  stack: string;
  /** The release being deployed. */
  release: string;
  /** The step taking the lock (prepare, migrate, cycle): named in the holder's record. */
  step: string;
}

/** Variables the lock lines use; merge them into the script's vars. */
export function lockVars({ root, owner, stack, release, step }: LockArgs): Record<string, string | number> {
  const l = layout(root);
  return {
    cutover_dir: l.cutoverDir,
    lock_file: l.lockFile,
    lock_info: l.lockInfo,
    lock_owner: validateLabel(owner, "owner"),
    lock_stack: validateLabel(stack, "stack"),
    lock_release: assertReleaseId(release, "release"),
    lock_step: validateLabel(step, "step"),
    lock_held_code: LOCK_HELD_EXIT_CODE,
  };
}

export const LOCK_FUNCTIONS = [
  NOW_SH,
  "lock_field() { sed -n \"s/^$1=//p\" \"$lock_info\" 2>/dev/null | head -n 1; }",
].join("\n");

/**
 * Body lines that take the lock on descriptor 9 for the rest of the script, or exit with
 * LOCK_HELD_EXIT_CODE naming the holder. Put them first in the body.
 */
export const TAKE_LOCK = [
  'mkdir -p -- "$cutover_dir" || fail lock "cannot create $cutover_dir; check that the deploy user owns the deploy root"',
  'exec 9>>"$lock_file" || fail lock "cannot open $lock_file; check that the deploy user owns $cutover_dir"',
  "if ! flock -n 9; then",
  "  printf 'cutover[%s] lock: host %s is being deployed by %s (stack %s, release %s, step %s, pid %s on the host) since %s; wait for that deploy to finish and run `pulumi up` again — the lock frees itself when that process ends (if it hangs, stop it on the host: kill %s)\\n' \\",
  '    "$host" "$host" "$(lock_field owner)" "$(lock_field stack)" "$(lock_field release)" "$(lock_field step)" "$(lock_field pid)" "$(lock_field time)" "$(lock_field pid)" >&2',
  '  exit "$lock_held_code"',
  "fi",
  "printf 'owner=%s\\nstack=%s\\nrelease=%s\\nstep=%s\\npid=%s\\ntime=%s\\n' \\",
  '  "$lock_owner" "$lock_stack" "$lock_release" "$lock_step" "$$" "$(now)" > "$lock_info.tmp" &&',
  // Without its record the lock still works; only the message for others is poorer.
  'mv -f -- "$lock_info.tmp" "$lock_info" || warn lock "cannot write $lock_info (disk full?); the lock is held all the same"',
];

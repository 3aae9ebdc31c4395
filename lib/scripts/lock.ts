/**
 * The per-host deploy lock: `flock` on `<root>/.cutover/deploy.lock`, held on a descriptor
 * of the very shell that does the work. The kernel frees it the moment that process ends —
 * success, failure, a killed SSH session, a reboot — so there is no stale lock to clear and
 * no "unlock" step that a failed deploy could skip. A step whose SSH client died keeps
 * running on the host and keeps holding the lock, so a retry can never run beside it (a
 * migration runs once).
 *
 * Who deploys is recorded in `deploy.lock.info` (owner, stack, release, step, pid, time),
 * written after the lock is taken, only for messages. The process that holds the lock is NOT
 * taken from that record: its pid can be stale (an earlier step of the same deploy, or a shell
 * whose descriptor lives on in a process it started). A refused deploy is told the process the
 * kernel says holds the flock, with its command line: the lock file's device and inode are
 * looked up in /proc/locks and in the fdinfo of the processes that share the locked
 * descriptor (see lock_holder). When that cannot be told (no /proc, a holder in another pid
 * namespace), the message says so rather than guess.
 */
import { NOW_SH } from "./now";
import { layout } from "./layout";
import { assertReleaseId, validateLabel } from "../plan";

/** Exit status of a step refused because another deploy holds the host (EX_TEMPFAIL). */
const LOCK_HELD_EXIT_CODE = 75;

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
    // Where the kernel's process and lock tables are read (a test points it elsewhere).
    lock_proc: "/proc",
  };
}

export const LOCK_FUNCTIONS = [
  NOW_SH,
  "lock_field() { sed -n \"s/^$1=//p\" \"$lock_info\" 2>/dev/null | head -n 1; }",
  // The lock file as /proc/locks names it, MAJOR:MINOR:INODE (device numbers in hex): st_dev
  // taken apart the way glibc's major() and minor() do.
  "lock_key() {",
  '  _lk=$(stat -c \'%d %i\' -- "$lock_file" 2>/dev/null) || return 1',
  '  _lk_dev=${_lk% *} _lk_ino=${_lk#* }',
  '  printf \'%02x:%02x:%s\' "$(( ((_lk_dev >> 8) & 4095) | ((_lk_dev >> 32) & ~4095) ))" "$(( (_lk_dev & 255) | ((_lk_dev >> 12) & ~255) ))" "$_lk_ino"',
  "}",
  // `lock_holders KEY`: the pids whose open descriptions hold that flock, one a line, as their
  // fdinfo shows it (`lock:` lines; a process that only waits has none).
  "lock_holders() {",
  '  find "$lock_proc"/[0-9]*/fdinfo -maxdepth 1 -type f -exec grep -ls -e "^lock:[[:space:]]*[0-9]*: FLOCK .* $1 " {} + 2>/dev/null |',
  "    sed -n 's|^.*/\\([0-9][0-9]*\\)/fdinfo/[^/]*$|\\1|p' | sort -un",
  "}",
  // `lock_holder`: prints the pid of the process holding the flock on $lock_file, or nothing.
  // /proc/locks names the process that took it, which is the answer while it is alive and its
  // fdinfo still shows the lock. But `flock -n 9` is a process of its own that ends at once,
  // and the lock lives on in the processes that share the descriptor (the deploy's shell and
  // what it started): then the holder is the one among them whose parent is not one of them.
  // A pid from another pid namespace (0, or not in this /proc) is no answer.
  "lock_holder() {",
  "  _lh_key=$(lock_key) || return 0",
  '  _lh_all=$(lock_holders "$_lh_key" | tr \'\\n\' \' \')',
  '  [ -n "$_lh_all" ] || return 0',
  '  _lh_pid=$(sed -n "s/^[0-9]*: FLOCK  *[A-Z]*  *[A-Z]*  *\\([0-9]*\\) $_lh_key .*/\\1/p" "$lock_proc/locks" 2>/dev/null | head -n 1) || _lh_pid=',
  '  case " $_lh_all" in *" ${_lh_pid:-none} "*) printf \'%s\' "$_lh_pid"; return 0 ;; esac',
  "  for _lh_pid in $_lh_all; do",
  '    _lh_parent=$(sed -n \'s/^.*) [A-Za-z] \\([0-9]*\\) .*$/\\1/p\' "$lock_proc/$_lh_pid/stat" 2>/dev/null) || _lh_parent=',
  '    case " $_lh_all" in *" $_lh_parent "*) ;; *) printf \'%s\' "$_lh_pid"; return 0 ;; esac',
  "  done",
  "}",
  // `lock_cmdline PID`: its command line on one line (NULs as spaces), at most ~120 characters.
  "lock_cmdline() {",
  "  _lc=$(tr '\\000\\n\\t' '   ' < \"$lock_proc/$1/cmdline\" 2>/dev/null) || _lc=",
  '  _lc=${_lc%" "}',
  '  [ "${#_lc}" -le 120 ] || _lc="$(printf \'%s\' "$_lc" | cut -c 1-117)…"',
  '  [ -n "$_lc" ] || _lc="[$(cat -- "$lock_proc/$1/comm" 2>/dev/null || echo "command line unknown")]"',
  "  printf '%s' \"$_lc\"",
  "}",
].join("\n");

/**
 * Body lines that take the lock on descriptor 9 for the rest of the script, or exit with
 * status 75 (EX_TEMPFAIL) naming who deploys and the process that holds the lock. Put them
 * first in the body.
 */
export const TAKE_LOCK = [
  '[ -d "$cutover_dir" ] || mkdir -p -- "$cutover_dir" || fail lock "cannot create $cutover_dir; check that the deploy user owns the deploy root"',
  'exec 9>>"$lock_file" || fail lock "cannot open $lock_file; check that the deploy user owns $cutover_dir"',
  "if ! flock -n 9; then",
  "  lock_pid=$(lock_holder) || lock_pid=",
  '  if [ -n "$lock_pid" ]; then',
  '    lock_by="the lock is held by pid $lock_pid on the host ($(lock_cmdline "$lock_pid"))"',
  '    lock_kill="; if it hangs, stop it on the host: kill $lock_pid"',
  "  else",
  "    lock_by=\"the holder's pid cannot be read on this host (a process that has $lock_file open holds it)\"",
  '    lock_kill=""',
  "  fi",
  "  printf 'cutover[%s] lock: host %s is being deployed by %s (stack %s, release %s, step %s) since %s; %s; wait for that deploy to finish and run `pulumi up` again — the lock frees itself when that process ends%s\\n' \\",
  '    "$host" "$host" "$(lock_field owner)" "$(lock_field stack)" "$(lock_field release)" "$(lock_field step)" "$(lock_field time)" "$lock_by" "$lock_kill" >&2',
  '  exit "$lock_held_code"',
  "fi",
  "printf 'owner=%s\\nstack=%s\\nrelease=%s\\nstep=%s\\npid=%s\\ntime=%s\\n' \\",
  '  "$lock_owner" "$lock_stack" "$lock_release" "$lock_step" "$$" "$(now)" > "$lock_info.tmp" &&',
  // Without its record the lock still works; only the message for others is poorer.
  'mv -f -- "$lock_info.tmp" "$lock_info" || warn lock "cannot write $lock_info (disk full?); the lock is held all the same"',
];

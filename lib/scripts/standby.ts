/**
 * The host's side of the `overlap` strategy: two service slots per host, `a` (the host's
 * usual service) and `b` (its standby), each with its own port and its own server in the
 * balancer. Both run from `<root>/current`, which the service manager resolves at each start:
 * a slot started after the swap runs the new release while the other keeps the release it
 * was started with (its working directory was resolved then). So `current` keeps naming the
 * release that serves (or is about to), and no second link is needed.
 *
 * On the host, under `<root>/.cutover/slots/`:
 *   a, b        the release each slot was last started with (absent: stopped)
 *   serving     the slot the last settled move put in rotation
 *   a.stop …    the token of a pending warm-time stop of that slot (see settleSlots)
 *
 * The runner (lib/runner/overlap.ts) decides the order; these scripts are its steps:
 * - probeSlots    read-only: the cycle probe, plus what each slot runs and whether it passes
 *                 its check for the target right now.
 * - the `standby` job (host-job.ts's startJob): start the target in one slot, check it there;
 *                 a slot already running the target and passing (a warm previous release,
 *                 for a rollback) is not restarted.
 * - settleSlots   once the balancer moved traffic: record the serving slot and stop the other
 *                 after `warmSeconds` (a detached timer the next job cancels), or at once.
 */
import { BOUNDED_SH, hostScript } from "./common";
import { layout } from "./layout";
import { validateCommand, validateInteger } from "../plan";

export type SlotName = "a" | "b";

export const otherSlot = (s: SlotName): SlotName => (s === "a" ? "b" : "a");

/** How one slot of a host is run and checked. */
export interface SlotCommands {
  restartCommand: string;
  stopCommand: string;
  aliveCommand?: string;
  /** The URL the slot's HTTP check polls (its own port), or undefined for a command/none check. */
  checkUrl?: string;
}

export const slotsDir = (root: string) => `${layout(root).cutoverDir}/slots`;

function slotVars(slots: Record<SlotName, SlotCommands>): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const s of ["a", "b"] as const) {
    vars[`slot_${s}_alive`] = slots[s].aliveCommand === undefined ? "" : validateCommand(slots[s].aliveCommand, `slots.${s}.aliveCommand`);
    vars[`slot_${s}_url`] = slots[s].checkUrl ?? "";
  }
  return vars;
}

/**
 * The job body of kind `standby` (the job's common head and `finish`/`fail` come from
 * host-job.ts). Expects the cycle variables with restart_cmd, alive_cmd and check_target set
 * to the slot's own, and $slot, $slots_dir, $stop_cmd. Outcomes: `ok warm` (the slot already
 * ran the target and passed: nothing restarted), `ok` (started and checked), `restored <was>
 * <why>` (the slot did not pass: it is stopped again and `current` is back; the other slot,
 * still serving, never changed).
 */
export const STANDBY_JOB_BODY = [
  '[ -f "$releases/$release_id/.prepared" ] || fail cycle "release $release_id is not prepared on this host; run pulumi up so its prepare step runs first"',
  '[ -d "$slots_dir" ] || mkdir -p -- "$slots_dir" || fail standby "cannot create $slots_dir"',
  // A host deployed with `cycle` until now: its usual slot runs what `current` names (that
  // strategy restarts it after every swap). Recorded once, so that release counts as warm.
  '[ -e "$slots_dir/a" ] || [ -e "$slots_dir/serving" ] || { _w=$(current_id); [ -z "$_w" ] || printf \'%s\\n\' "$_w" > "$slots_dir/a"; }',
  // A warm-time stop still pending for this slot must not stop what this job starts.
  'rm -f -- "$slots_dir/$slot.stop"',
  "was=$(current_id)",
  'runs=$(cat -- "$slots_dir/$slot" 2>/dev/null || true)',
  'applied=$(cat -- "$redeploy_file" 2>/dev/null || true)',
  "point_current() {",
  '  [ "$was" != "$release_id" ] || return 0',
  '  if is_release_id "$was"; then',
  "    printf '%s\\n' \"$was\" > \"$previous_file.tmp\" && mv -f -- \"$previous_file.tmp\" \"$previous_file\" ||",
  '      fail standby "cannot record the previous release in $previous_file (disk full?); nothing was switched"',
  "  fi",
  '  swap_to "$release_id" switch',
  '  record activate "$release_id" "$was"',
  '  say switch "current -> releases/$release_id (was ${was:-none})"',
  "}",
  // Not a fresh start: the slot kept the release warm (a rollback within warmSeconds).
  'if [ "$runs" = "$release_id" ] && { [ -z "$redeploy" ] || [ "$applied" = "$redeploy" ]; } && alive && check_release "$release_id" 1 >/dev/null; then',
  "  point_current",
  '  say standby "slot $slot already runs $release_id and passes its check: no restart"',
  '  finish "ok warm"',
  "fi",
  "point_current",
  "printf '%s\\n' \"$release_id\" > \"$slots_dir/$slot\" || fail standby \"cannot write $slots_dir/$slot (disk full?)\"",
  'say standby "starting $release_id in slot $slot"',
  "back() {",
  '  bounded stop "$restart_limit" "$root" "$stop_cmd" >/dev/null 2>&1 || warn standby "could not stop slot $slot again: $bounded_why"',
  '  rm -f -- "$slots_dir/$slot"',
  '  if is_release_id "$was" && [ "$(current_id)" != "$was" ]; then swap_to "$was" restore; record restore "$was" "$release_id"; say restore "current -> releases/$was"; fi',
  '  finish "restored ${was:-none} $1"',
  "}",
  'if ! restart; then back "$bounded_why"; fi',
  'if ! check_release "$release_id" 0; then back "$check_failure"; fi',
  '[ -z "$redeploy" ] || printf \'%s\\n\' "$redeploy" > "$redeploy_file" || warn standby "cannot record the redeploy nonce"',
  'finish "ok"',
];

/** What probeSlots adds to the cycle probe: per slot, its release and whether it passes now. */
export interface SlotsProbe {
  serving?: SlotName;
  a: { release?: string; passes: boolean };
  b: { release?: string; passes: boolean };
}

/**
 * Lines appended to the cycle probe's body: `cutover-slots serving=<a|b|> a=<id> a_ok=0|1
 * b=<id> b_ok=0|1`. x_ok: the slot runs the target, its service manager says alive and its own
 * check passes once (the probe's one quick try per slot). Expects CHECK_SH and the slot vars.
 */
export const PROBE_SLOTS_BODY = [
  'slot_ok() { [ "$2" = "$release_id" ] || { echo 0; return; }; check_target=$3; alive_cmd=$4; if alive && check_release "$release_id" 1 >/dev/null; then echo 1; else echo 0; fi; }',
  'sa=$(cat -- "$slots_dir/a" 2>/dev/null || true); sb=$(cat -- "$slots_dir/b" 2>/dev/null || true)',
  // Never deployed with overlap: slot a runs what `current` names (see the standby job).
  '[ -n "$sa" ] || [ -e "$slots_dir/serving" ] || sa=$(current_id)',
  'sv=$(cat -- "$slots_dir/serving" 2>/dev/null || true)',
  'echo "cutover-slots serving=$sv a=$sa a_ok=$(slot_ok a "$sa" "$slot_a_url" "$slot_a_alive") b=$sb b_ok=$(slot_ok b "$sb" "$slot_b_url" "$slot_b_alive")"',
];

export function probeSlotsVars(root: string, slots: Record<SlotName, SlotCommands>): Record<string, string> {
  return { slots_dir: slotsDir(root), ...slotVars(slots) };
}

export function parseSlotsProbe(stdout: string): SlotsProbe | undefined {
  const m = /^cutover-slots serving=(a|b|) a=(\S*) a_ok=([01]) b=(\S*) b_ok=([01])$/m.exec(stdout);
  if (!m) return undefined;
  return {
    serving: (m[1] || undefined) as SlotName | undefined,
    a: { release: m[2] || undefined, passes: m[3] === "1" },
    b: { release: m[4] || undefined, passes: m[5] === "1" },
  };
}

/** The runner's random hex token (overlap.ts newToken); anything else is a bug, not input. */
function validToken(token: string): string {
  if (!/^[a-f0-9]{6,32}$/.test(token)) throw new Error(`internal: bad settle token ${JSON.stringify(token)}`);
  return token;
}

export interface SettleArgs {
  root: string;
  host: string;
  /** The slot now in rotation. */
  serving: SlotName;
  /** The other slot's stop command (it stays warm for warmSeconds, then stops). */
  stopCommand: string;
  warmSeconds: number;
  /** Bounds the stop itself. */
  stopLimitSeconds: number;
  /** Identifies this settle's timer: a later job or settle replaces it, and the timer stands down. */
  token: string;
}

/**
 * After the balancer moved traffic to `serving`: records it, then stops the other slot after
 * `warmSeconds` — a detached timer (setsid: it outlives the SSH session) that takes the host
 * lock, and acts only while its token is still the slot's (a job starting that slot removes
 * it) — or at once when warmSeconds is 0. Prints `cutover-settled`.
 */
export function settleSlots(a: SettleArgs): string {
  const l = layout(a.root);
  const warm = validateInteger(a.warmSeconds, "warmSeconds", { min: 0, max: 86_400, unit: "seconds" });
  const vars = {
    root: l.root,
    slots_dir: slotsDir(a.root),
    serving: a.serving,
    other: a.serving === "a" ? "b" : "a",
    stop_cmd: validateCommand(a.stopCommand, "stopCommand"),
    stop_limit: validateInteger(a.stopLimitSeconds, "stopLimitSeconds", { min: 1, max: 3600, unit: "seconds" }),
    lock_file: l.lockFile,
    token: validToken(a.token),
    warm,
  };
  const stopper = hostScript({
    host: a.host,
    vars,
    functions: [BOUNDED_SH],
    body: [
      'sleep "$warm"',
      'exec 9>>"$lock_file"',
      'flock -w 600 9 || exit 0',
      '[ "$(cat -- "$slots_dir/$other.stop" 2>/dev/null)" = "$token" ] || exit 0',
      'rm -f -- "$slots_dir/$other.stop"',
      'if bounded stop "$stop_limit" "$root" "$stop_cmd" >/dev/null 2>&1; then rm -f -- "$slots_dir/$other"; fi',
      "printf '%s slot %s stopped after %ss warm: %s\\n' \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\" \"$other\" \"$warm\" \"${bounded_why:-ok}\" >> \"$slots_dir/log\"",
    ],
  });
  return hostScript({
    host: a.host,
    vars: { ...vars, stopper },
    functions: [BOUNDED_SH],
    body: [
      '[ -d "$slots_dir" ] || mkdir -p -- "$slots_dir" || fail settle "cannot create $slots_dir"',
      "printf '%s\\n' \"$serving\" > \"$slots_dir/serving.tmp\" && mv -f -- \"$slots_dir/serving.tmp\" \"$slots_dir/serving\" || fail settle \"cannot write $slots_dir/serving\"",
      'if [ "$warm" -eq 0 ]; then',
      '  rm -f -- "$slots_dir/$other.stop"',
      '  bounded stop "$stop_limit" "$root" "$stop_cmd" >/dev/null || fail settle "$bounded_why"',
      '  rm -f -- "$slots_dir/$other"',
      '  echo "cutover-settled stopped"; exit 0',
      "fi",
      "printf '%s\\n' \"$token\" > \"$slots_dir/$other.stop\" || fail settle \"cannot write $slots_dir/$other.stop\"",
      'setsid -f sh -c "$stopper" </dev/null >/dev/null 2>&1 9>&-',
      'echo "cutover-settled warm"',
    ],
  });
}

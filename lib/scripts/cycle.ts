/**
 * One host's switch during a rollout: activate the release, smoke-test it on the host, and
 * on failure restore the previous release — then REPORT instead of failing.
 *
 * Why report: Pulumi runs nothing after a failed step, yet a host that failed its smoke
 * test must still be put back in the load balancer (on its restored release), and with
 * `restoreCycled` the hosts already switched must be switched back. So this step always
 * exits 0 once the host is healthy again, and its last output line is a verdict that the
 * following steps read:
 *   CUTOVER_VERDICT ok
 *   CUTOVER_VERDICT failed <step>: <message>
 *   CUTOVER_VERDICT skipped            (an earlier batch failed; this host was not touched)
 * A step that cannot leave the host healthy (the restore itself failed) fails for real.
 */
import { hostScript } from "./common";

export const VERDICT_PREFIX = "CUTOVER_VERDICT";

export interface CycleArgs {
  host: string;
  /** activateRelease(...) for the host. */
  activate: string;
  /** smokeTestOrRestore(...) for the host, or undefined for no smoke test. */
  smokeOrRestore?: string;
}

export function cycleHost(a: CycleArgs): string {
  return hostScript({
    host: a.host,
    vars: { activate_script: a.activate, smoke_script: a.smokeOrRestore ?? "" },
    body: [
      "verdict() { printf '%s %s\\n' " + `'${VERDICT_PREFIX}'` + ' "$1"; }',
      // Activation swaps back by itself when the restart fails; its message is the reason.
      'if ! err=$(sh -c "$activate_script" 2>&1 >/dev/null); then',
      '  printf \'%s\\n\' "$err" >&2',
      '  verdict "failed activate: $(printf \'%s\' "$err" | tail -n 3 | tr \'\\n\' \' \')"',
      "  exit 0",
      "fi",
      'if [ -n "$smoke_script" ]; then',
      '  if ! err=$(sh -c "$smoke_script" 2>&1 >/dev/null); then',
      '    printf \'%s\\n\' "$err" >&2',
      // smokeTestOrRestore fails hard only if the restore failed: then the host is broken.
      '    case $err in *"restoring the previous release failed too"*) fail "smoke test" "$err" ;; esac',
      '    verdict "failed smoke test: $(printf \'%s\' "$err" | grep \'smoke test:\' | head -n 1)"',
      "    exit 0",
      "  fi",
      "fi",
      'verdict "ok"',
    ],
  });
}

export type Verdict = { state: "ok" } | { state: "skipped" } | { state: "failed"; reason: string };

/** The step run instead of a switch once the rollout has stopped. */
export function skippedStep(why: string): string {
  return hostScript({ host: "-", vars: { why }, body: ['printf \'%s\\n\' "$why"', `echo '${VERDICT_PREFIX} skipped'`] });
}

/** Reads a cycle step's verdict from its stdout; a missing verdict is a failure. */
export function parseVerdict(stdout: string): Verdict {
  const line = stdout
    .split("\n")
    .reverse()
    .find((l) => l.startsWith(`${VERDICT_PREFIX} `));
  if (!line) return { state: "failed", reason: "the switch reported no verdict" };
  const verdict = line.slice(VERDICT_PREFIX.length + 1);
  if (verdict === "ok") return { state: "ok" };
  if (verdict === "skipped") return { state: "skipped" };
  return { state: "failed", reason: verdict.replace(/^failed /, "") };
}

/**
 * A host step run under the per-host deploy lock: acquire, run the step, release — the
 * release runs whether the step succeeded or failed, so a failed deploy never leaves a lock
 * behind, and the step's own exit status is what the deploy sees.
 *
 * Why per step and not one lock from prepare to activation: Pulumi runs nothing after a
 * failed step, so a lock taken by prepare on host A could never be released when prepare
 * failed on host B. Pulumi's own stack lock already keeps two `up`s of one stack apart; the
 * host lock keeps every other deployer (another stack, a script, a person) from interleaving
 * with any step of ours, and tells them who holds it and how to clear it.
 */
import { sh } from "./quote";
import { LockArgs, acquireLock, releaseLock } from "./lock";

export function lockedStep(lock: LockArgs, step: string): string {
  const acquire = acquireLock(lock);
  const release = releaseLock(lock);
  return [
    sh`sh -c ${acquire} || exit $?`,
    sh`sh -c ${step}`,
    "rc=$?",
    sh`sh -c ${release} || true`,
    'exit "$rc"',
    "",
  ].join("\n");
}

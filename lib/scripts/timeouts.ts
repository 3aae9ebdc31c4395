import { validateInteger } from "../plan";

/**
 * Default time limits, in seconds, of the user's commands run on a host. Each command runs
 * under `timeout` with its limit (see RUN_USER_SH in common.ts), so no step waits forever on a
 * command that hangs.
 */
export const DEFAULT_COMMAND_TIMEOUTS = {
  /** prepare: the install command (e.g. `npm ci`). */
  install: 900,
  /** prepare: each build hook on its own. */
  buildHook: 900,
  /** migrate: the migration command. */
  migration: 1800,
  /** migrate: the backup command run before it. */
  backup: 1800,
} as const satisfies Record<string, number>;

/** Longest limit a command may be given: a day. */
const MAX_COMMAND_TIMEOUT = 86_400;

/**
 * A command's limit: `value` when given, else `fallback`; a whole number of seconds between 1
 * and a day, or a CutoverInputError naming `argument`.
 */
export function commandTimeout(value: number | undefined, fallback: number, argument: string): number {
  return validateInteger(value ?? fallback, argument, { min: 1, max: MAX_COMMAND_TIMEOUT, unit: "seconds" });
}

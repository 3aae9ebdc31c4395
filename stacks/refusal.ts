// How the stack program refuses bad input: one line, the way Pulumi reports its own errors.
// The language host prints a RunError as its message alone, where any other error is printed
// with its stack and an inspect dump of its fields.
import { RunError } from "../lib/pulumi";
import { CutoverInputError } from "../lib/plan";

/** Names an argument of the library (`batchSize`) as the user wrote it (`cutover:app.rollout.batchSize`). */
export type ConfigKeyOf = (argument: string) => string | undefined;

/**
 * Runs `check`. A CutoverInputError it throws becomes a RunError that names the argument by
 * its config key; any other error goes on as it is (a bug, not bad input, keeps its stack).
 */
export function refusingBadInput<T>(check: () => T, configKeyOf: ConfigKeyOf = () => undefined): T {
  try {
    return check();
  } catch (e) {
    throw asRefusal(e, configKeyOf);
  }
}

export function asRefusal(e: unknown, configKeyOf: ConfigKeyOf = () => undefined): unknown {
  return e instanceof CutoverInputError ? new RunError(e.namedAs(configKeyOf(e.argument) ?? e.argument)) : e;
}

/**
 * A stack output that may reject (a refusal inside the Deployment, for stacks whose hosts are
 * known only later). The SDK awaits it and reports the rejection once, as above; marking it
 * handled now keeps Node from also printing an unhandled-rejection and, when the SDK then
 * handles it, a PromiseRejectionHandledWarning.
 */
export function stackOutput<T>(value: Promise<T>): Promise<T> {
  value.catch(() => undefined);
  return value;
}

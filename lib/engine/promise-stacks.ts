/**
 * Makes a Pulumi program's start cheaper on stacks with many resources. The Node.js SDK records
 * `new Error().stack` for every promise it makes (runtime/debuggable.js), for a leak report it
 * prints only under PULUMI_DEBUG_PROMISE_LEAKS, and the source-map-support its runner installs
 * maps every frame of each of those stacks: measured on a 16-host local fleet (160 resources),
 * ~0.7 s of the program's 1.5 s of CPU before the first resource reached the engine.
 *
 * This formats those stacks (a plain `Error` with no message) as the bare word "Error" unless
 * PULUMI_DEBUG_PROMISE_LEAKS is set; every other error keeps its source-mapped stack.
 */
export function skipUnreadPromiseStacks(env: NodeJS.ProcessEnv = process.env): void {
  if (env.PULUMI_DEBUG_PROMISE_LEAKS) return;
  const format = Error.prepareStackTrace;
  if (!format || (format as { cutoverSkipsPromiseStacks?: boolean }).cutoverSkipsPromiseStacks) return;
  const skipping = (error: Error, frames: NodeJS.CallSite[]): unknown =>
    error?.constructor === Error && error.message === "" ? "Error" : format(error, frames);
  Error.prepareStackTrace = Object.assign(skipping, { cutoverSkipsPromiseStacks: true });
}

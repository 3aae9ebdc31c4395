// Follows a deploy through the engine's events: prints each host's progress as its steps
// finish and measures how long each host was out of rotation (hide started → unhide done).
import { EngineEvent } from "@pulumi/pulumi/automation";

const STEP = /-batch(\d+)-([a-z][a-z0-9-]*)-(hide|switch|unhide)$/;

export interface Progress {
  onEvent(e: EngineEvent): void;
  /** Seconds each hidden host spent out of the load balancer. */
  outOfRotation(): Record<string, number>;
}

export function followRollout(print: (line: string) => void = () => undefined): Progress {
  const hideStart: Record<string, number> = {};
  const out: Record<string, number> = {};
  const began = Date.now();
  const t = () => ((Date.now() - began) / 1000).toFixed(1).padStart(5);
  return {
    onEvent(e) {
      const pre = e.resourcePreEvent?.metadata;
      const done = e.resOutputsEvent?.metadata;
      const failed = e.resOpFailedEvent?.metadata;
      const m = (pre ?? done ?? failed)?.urn.match(STEP);
      const op = (pre ?? done ?? failed)?.op;
      // Steps of a previous deploy being removed (delete) or left alone say nothing about this one.
      if (!m || op === "same" || op === "delete" || op === "read") return;
      const [, batch, host, step] = m;
      if (pre && step === "hide") hideStart[host] = Date.now();
      if (done) {
        if (step === "unhide" && hideStart[host]) out[host] = (Date.now() - hideStart[host]) / 1000;
        const what = step === "hide" ? "out of rotation" : step === "switch" ? "switched and smoke-tested" : `back in rotation (${out[host]?.toFixed(1)} s out)`;
        print(`${t()} s  batch ${batch}  ${host.padEnd(8)} ${what}`);
      }
      if (failed) print(`${t()} s  batch ${batch}  ${host.padEnd(8)} ${step} FAILED`);
    },
    outOfRotation: () => ({ ...out }),
  };
}

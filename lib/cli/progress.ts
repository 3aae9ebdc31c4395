// Live per-host progress of a deploy, read from the runner's event log (runner/events.ts):
// one line per phase a host enters — preparing, out of rotation, switching and smoke-testing,
// back in rotation — with the time since the deploy started. Plain lines, no cursor tricks,
// so it reads the same in a terminal and in CI logs. Used by `cutover deploy|rollback`, the
// demo and the benchmark. The log is read every 200 ms for display only; nothing waits on it.
import * as fs from "node:fs";
import { DeployEvent, DeploySummary, eventLogPath, summarize } from "../runner/events";

const SAY: Partial<Record<string, string>> = {
  prepare: "preparing",
  prepared: "prepared",
  migrate: "migrating",
  migrated: "migrated",
  hidden: "out of rotation",
  switch: "switching and smoke-testing",
  switched: "switched and smoke-tested",
  restored: "FAILED its check, restored",
  "in-rotation": "back in rotation",
  unchanged: "already on the release: nothing to do",
  "left-as-found": "out of rotation by an operator: switched, left out",
  "stable-watch": "back in rotation, watching it stay healthy",
  unstable: "FAILED after its check (did not stay healthy), switching back",
  "canary-hold": "canary: holding, watching its 5xx ratio",
  "canary-passed": "canary passed",
  "canary-failed": "canary FAILED, rolling back",
  failed: "FAILED",
};

export interface Progress {
  stop(): DeploySummary;
}

/** Prints each host's phases of the next deploy of `key`; `onEvent` sees every event read. */
export function followRollout(key: string, print: (line: string) => void = () => undefined, onEvent?: (e: DeployEvent) => void): Progress {
  const file = eventLogPath(key);
  let offset = 0;
  try {
    offset = fs.statSync(file).size;
  } catch {
    offset = 0;
  }
  const events: DeployEvent[] = [];
  let started: number | undefined;
  let partial = "";
  const read = () => {
    let text = "";
    try {
      const fd = fs.openSync(file, "r");
      const size = fs.fstatSync(fd).size;
      const buf = Buffer.alloc(Math.max(0, size - offset));
      fs.readSync(fd, buf, 0, buf.length, offset);
      fs.closeSync(fd);
      offset = size;
      text = partial + buf.toString();
    } catch {
      return;
    }
    const lines = text.split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines.filter(Boolean)) {
      const e = JSON.parse(line) as DeployEvent;
      events.push(e);
      onEvent?.(e);
      if (e.kind === "deploy") started = e.t;
      if (e.kind !== "phase" || !SAY[e.phase]) continue;
      const t = started ? ((e.t - started) / 1000).toFixed(1).padStart(5) : "    -";
      const out = e.phase === "in-rotation" ? ` (${summarize(events).outOfRotationSeconds[e.host]?.toFixed(1) ?? "?"} s out)` : "";
      const detail = ["failed", "restored", "unstable", "canary-passed", "canary-failed"].includes(e.phase) ? `: ${e.detail ?? ""}` : "";
      print(`${t} s  ${e.batch ? `batch ${e.batch}` : "       "}  ${e.host.padEnd(8)} ${SAY[e.phase]}${out}${detail}`);
    }
  };
  const timer = setInterval(read, 200);
  return {
    stop() {
      clearInterval(timer);
      read();
      return summarize(events);
    },
  };
}

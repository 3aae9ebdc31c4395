// How many servers of a backend serve, sampled from HAProxy's runtime API every 100 ms while a
// deploy runs (the demo, the bench and the overlap test): a server serves when HAProxy would
// send it a new request (status UP, not in maint or drain). `secondsBelowCapacity` adds up the
// samples in which fewer served than `capacity` (the hosts), each counting its interval.
// The admin socket is a file on this machine for the local fleet: read directly, bounded.
import * as net from "node:net";

export interface CapacityResult {
  samples: number;
  fewestServing: number;
  secondsBelowCapacity: number;
}

export interface CapacitySampler {
  stop(): Promise<CapacityResult>;
}

function showStat(socket: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const c = net.createConnection(socket, () => c.end("show stat\n"));
    c.setTimeout(timeoutMs, () => c.destroy(new Error(`no answer from ${socket} within ${timeoutMs} ms`)));
    c.on("data", (d) => (text += d.toString()));
    c.on("error", reject);
    c.on("close", () => resolve(text));
  });
}

/** Servers of `backend` that take new requests, from one `show stat`. */
export function servingServers(csv: string, backend: string): string[] {
  const lines = csv.split("\n");
  const header = (lines[0] ?? "").replace(/^# /, "").split(",");
  const status = header.indexOf("status");
  return lines
    .slice(1)
    .map((l) => l.split(","))
    .filter((f) => f[0] === backend && f[1] !== "BACKEND" && f[1] !== "FRONTEND" && /^UP/.test(f[status] ?? ""))
    .map((f) => f[1]);
}

export function sampleCapacity(socket: string, backend: string, capacity: number, intervalMs = 100): CapacitySampler {
  let samples = 0;
  let below = 0;
  let fewest = Number.POSITIVE_INFINITY;
  let running = true;
  const loop = (async () => {
    while (running) {
      const next = Date.now() + intervalMs;
      try {
        const serving = servingServers(await showStat(socket), backend).length;
        samples += 1;
        fewest = Math.min(fewest, serving);
        if (serving < capacity) below += 1;
      } catch {
        // A sample HAProxy did not answer is not a measurement; the next one is.
      }
      await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { samples, fewestServing: samples ? fewest : 0, secondsBelowCapacity: Math.round(below * intervalMs) / 1000 };
    },
  };
}

// Properties over every script builder at once: whatever the inputs, the output parses in
// bash and dash, and user-supplied text appears only in the quoted assignments at the top
// (the rest of each script is Cutover's constant text referring to "$variables").
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { prepareRelease, probeRelease } from "./release";
import { hostCycle } from "./host-cycle";
import { runMigration } from "./migrate";
import { pruneReleases } from "./prune";
import { drainServer, hideServer, serverState, unhideServer } from "./haproxy";
import { spawnSync } from "node:child_process";
import { SHELLS } from "./testing/sandbox";
import { nasty, nastySegment } from "./testing/arbitraries";

const MARK = "Zq9";
const SHA = "ab".repeat(32);
const ID = "v1-0123456789ab";

/** Every builder, with user text (each containing MARK) in every free-text slot. */
function allScripts(host: string, dir: string, label: string, cmd: string): Record<string, string> {
  const root = `/srv/${dir}`;
  const owner = label;
  return {
    probeRelease: probeRelease({ root, releaseId: ID, host }),
    prepareRelease: prepareRelease({
      root,
      releaseId: ID,
      artifactPath: `/tmp/${dir}.tgz`,
      sha256: SHA,
      linkedDirs: [dir],
      linkedFiles: [`${dir}/.env`],
      installCommand: cmd,
      buildHooks: [cmd, cmd],
      host,
      lock: { root, owner, stack: label, release: ID, step: "prepare" },
    }),
    hostCycleHttp: hostCycle({
      root,
      host,
      releaseId: ID,
      restartCommand: cmd,
      by: label,
      check: { kind: "http", url: `http://127.0.0.1:8080/${encodeURIComponent(dir)}?q=${MARK}`, deadlineSeconds: 5 },
      keepReleases: 3,
      lock: { owner, stack: label },
    }),
    hostCycleCommand: hostCycle({
      root,
      host,
      releaseId: ID,
      restartCommand: cmd,
      by: label,
      check: { kind: "command", command: cmd, deadlineSeconds: 5 },
      keepReleases: 3,
      lock: { owner, stack: label },
    }),
    runMigration: runMigration({ root, releaseId: ID, host, command: cmd, backupCommand: cmd, lock: { root, owner, stack: label, release: ID, step: "migrate" } }),
    pruneReleases: pruneReleases({ root, keep: 3, host }),
    drainServer: drainServer({ socket: "/run/h.sock", backend: "web", server: "web1", host }),
    hideServer: hideServer({ socket: "/run/h.sock", backend: "web", server: "web1", host, timeoutSeconds: 5 }),
    unhideServer: unhideServer({ socket: "/run/h.sock", backend: "web", server: "web1", host, timeoutSeconds: 5 }),
    serverState: serverState({ socket: "/run/h.sock", backend: "web", server: "web1", host }),
  };
}

const inputs = fc.record({
  host: nasty.map((s) => `${s}${MARK}`),
  dir: nastySegment.map((s) => `${s}${MARK}`),
  label: nastySegment.map((s) => `${s}${MARK}`.slice(-100)),
  cmd: nasty.map((s) => `echo ${MARK}; ${s}`).filter((s) => s.trim().length > 0),
});

describe("every script builder", () => {
  it("property: user text appears only in the assignment lines before the helpers", () => {
    fc.assert(
      fc.property(inputs, ({ host, dir, label, cmd }) => {
        for (const [name, text] of Object.entries(allScripts(host, dir, label, cmd))) {
          const helpersStart = text.indexOf("\nfail() {");
          expect(helpersStart, name).toBeGreaterThan(0);
          expect(text.slice(helpersStart).includes(MARK), `${name} mentions user text after its assignments`).toBe(false);
        }
      }),
      { numRuns: 100 },
    );
  });

  for (const shell of SHELLS) {
    it(`property: every script parses in ${shell} (-n)`, () => {
      fc.assert(
        fc.property(inputs, ({ host, dir, label, cmd }) => {
          const scripts = allScripts(host, dir, label, cmd);
          for (const [name, text] of Object.entries(scripts)) {
            // -n: parse only, never execute.
            const parsed = spawnSync(shell, ["-n", "-c", text], { encoding: "utf8" });
            expect(parsed.stderr, name).toBe("");
            expect(parsed.status, name).toBe(0);
          }
        }),
        { numRuns: 10 },
      );
    });
  }
});


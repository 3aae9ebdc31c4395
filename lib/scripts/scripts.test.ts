// Properties over every script builder at once: whatever the inputs, the output parses in
// bash and dash, and user-supplied text appears only in the quoted assignments at the top
// (the rest of each script is Cutover's constant text referring to "$variables").
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { prepareRelease, probeRelease } from "./release";
import { DEFAULT_CYCLE_LIMITS, attachJob, probeCycle, startJob, watchStable, type CycleHostArgs } from "./host-job";
import { runMigration } from "./migrate";
import { pruneReleases } from "./prune";
import { hideGuarded, putBackServer, readRotation } from "./haproxy";
import { quote } from "./quote";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { SHELLS } from "./testing/sandbox";
import { nasty, nastySegment } from "./testing/arbitraries";

const MARK = "Zq9";
const SHA = "ab".repeat(32);
const ID = "v1-0123456789ab";

/**
 * A script that carries another whole script in variable `name` (startJob's job, hideGuarded's
 * guard), as two entries: `key`, with that value replaced by a constant word, and `key.name`,
 * the script it carries (which runs on its own, so it is held to the same properties).
 */
function nested(key: string, text: string, name: string): Record<string, string> {
  const start = text.indexOf(`\n${name}='`);
  if (start < 0) throw new Error(`${key} has no quoted ${name}=`);
  const valueStart = start + name.length + 2;
  let inner = "";
  let i = valueStart;
  for (;;) {
    const end = text.indexOf("'", i + 1);
    inner += text.slice(i + 1, end);
    i = end + 1;
    if (!text.startsWith("\\''", i)) break;
    inner += "'";
    i += 2;
  }
  if (text.slice(valueStart, i) !== quote(inner)) throw new Error(`${key}: ${name} is not one quoted word`);
  return { [key]: `${text.slice(0, start)}\n${name}=nested${text.slice(i)}`, [`${key}.${name}`]: inner };
}

/** Every builder, with user text (each containing MARK) in every free-text slot. */
function allScripts(host: string, dir: string, label: string, cmd: string): Record<string, string> {
  const root = `/srv/${dir}`;
  const owner = label;
  const cycle = (check: CycleHostArgs["check"]): CycleHostArgs => ({
    root,
    host,
    releaseId: ID,
    restartCommand: cmd,
    aliveCommand: cmd,
    check,
    limits: DEFAULT_CYCLE_LIMITS,
    redeploy: label,
  });
  const http = cycle({ kind: "http", url: `http://127.0.0.1:8080/${encodeURIComponent(dir)}?q=${MARK}`, deadlineSeconds: 5 });
  const command = cycle({ kind: "command", command: cmd, deadlineSeconds: 5 });
  const lb = { socket: "/run/h.sock", backend: "web", server: "web1", host };
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
    // The HTTP check in the probe, the command check in the job and the watch (same variables).
    probeCycle: probeCycle(http),
    ...nested("startJob", startJob({ ...command, kind: "switch", jobId: "1-switch-ab", by: label, lock: { owner, stack: label } }), "job"),
    attachJob: attachJob({ root, host, jobId: "1-switch-ab", waitSeconds: 5 }),
    watchStable: watchStable({ ...command, stableSeconds: 5 }),
    runMigration: runMigration({ root, releaseId: ID, host, command: cmd, backupCommand: cmd, lock: { root, owner, stack: label, release: ID, step: "migrate" } }),
    pruneReleases: pruneReleases({ root, keep: 3, host }),
    readRotation: readRotation(lb),
    ...nested(
      "hideGuarded",
      hideGuarded({ ...lb, timeoutSeconds: 5, was: "ready", minInRotation: 1, rotationWaitSeconds: 5, leaseSeconds: 60, token: "ab12" }),
      "guard",
    ),
    putBackServer: putBackServer({ ...lb, timeoutSeconds: 5, was: "drain", checked: false }),
  };
}

/** The assignments at the top of a script (everything before its helpers) and their names. */
function assignments(text: string): { prefix: string; names: string[] } {
  const prefix = text.slice(0, text.indexOf("\nfail() {") + 1);
  // A quoted multi-line value may add lines that look like assignments: extra names only
  // print extra values, which the property below tolerates.
  const names = [...new Set([...prefix.matchAll(/^([a-z_][a-z0-9_]*)=/gm)].map((m) => m[1]))];
  return { prefix, names };
}

// Text that would run a command if it ever escaped its quotes: each one creates a file.
const CANARY = "cutover-canary";
const escaping = fc.constantFrom(
  `$(touch ${CANARY})`,
  `\`touch ${CANARY}\``,
  `'; touch ${CANARY}; '`,
  `"; touch ${CANARY}; "`,
  `\n touch ${CANARY}\n`,
  `'\ntouch ${CANARY}\n'`,
  `\\'$(touch ${CANARY})`,
);

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

  for (const shell of SHELLS) {
    it(`property: in ${shell}, the assignments run no command and give back every input unchanged`, () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-quoting-"));
      try {
        fc.assert(
          fc.property(inputs, escaping, escaping, ({ host, dir: seg, label, cmd }, e1, e2) => {
            const given = { host: `${e1}${host}`, dir: `${seg}${e2.replace(/[\n/]/g, "_")}`, label: `${label}${e1}`.replace(/\n/g, " ").slice(-100), cmd: `${cmd}${e2}` };
            for (const [name, text] of Object.entries(allScripts(given.host, given.dir, given.label, given.cmd))) {
              const { prefix, names } = assignments(text);
              const dump = `printf '%s\\0' ${names.map((n) => `"$${n}"`).join(" ")}\n`;
              const r = spawnSync(shell, ["-c", prefix + dump], { encoding: "utf8", cwd: dir, env: { PATH: process.env.PATH ?? "", HOME: dir } });
              expect(r.stderr, name).toBe("");
              expect(fs.readdirSync(dir), `${name}: an input ran a command`).toEqual([]);
              const values = r.stdout.split("\0");
              expect(values, name).toContain(given.host);
              if (["prepareRelease", "probeCycle", "startJob.job", "watchStable", "runMigration"].includes(name)) expect(values, `${name} lost the command`).toContain(given.cmd);
              if (names.includes("lock_owner") || names.includes("by")) expect(values, `${name} lost the label`).toContain(given.label);
              if (names.includes("root")) expect(values, name).toContain(`/srv/${given.dir}`);
            }
          }),
          { numRuns: 25 },
        );
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

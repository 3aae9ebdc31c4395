import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { IS_RELEASE_ID_SH, assign, hostScript } from "./common";
import { isReleaseId } from "../plan";
import { SHELLS, run } from "./testing/sandbox";
import { nasty } from "./testing/arbitraries";

describe("hostScript", () => {
  it("renders strict mode, quoted inputs, helpers, then the body", () => {
    expect(hostScript({ host: "web 1", vars: { root: "/srv/app" }, body: ['say x "$root"'] })).toMatchInlineSnapshot(`
      "set -eu
      host='web 1'
      root=/srv/app
      fail() { printf 'cutover[%s] %s: %s\\n' "$host" "$1" "$2" >&2; exit 1; }
      warn() { printf 'cutover[%s] %s: warning: %s\\n' "$host" "$1" "$2" >&2; }
      say() { printf 'cutover[%s] %s: %s\\n' "$host" "$1" "$2"; }
      say x "$root"
      "
    `);
  });

  it("refuses variable names that are not plain identifiers", () => {
    expect(() => assign("a;b", "x")).toThrow(/internal/);
  });

  for (const shell of SHELLS) {
    it(`property (${shell}): host and inputs reach the body unchanged, and fail prints them exactly`, () => {
      fc.assert(
        fc.property(nasty, nasty, nasty, (host, a, b) => {
          const ok = run(hostScript({ host, vars: { a, b }, body: ["printf '%s\\0' \"$host\" \"$a\" \"$b\""] }), { shell });
          expect(ok.stdout.split("\0").slice(0, -1)).toEqual([host, a, b]);
          const failed = run(hostScript({ host, vars: { a }, body: ['fail "my step" "$a"', "echo unreachable"] }), { shell });
          expect(failed.status).toBe(1);
          expect(failed.stdout).toBe("");
          expect(failed.stderr).toBe(`cutover[${host}] my step: ${a}\n`);
        }),
        { numRuns: 40 },
      );
    });
  }
});

describe("is_release_id (shell) agrees with isReleaseId", () => {
  const candidates = fc.oneof(
    fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,41}-[0-9a-fA-F]{11,13}$/),
    fc.stringMatching(/^[A-Za-z0-9._\- \n*?[\]é]{0,20}$/),
    nasty,
  );
  for (const shell of SHELLS) {
    it(`property (${shell})`, () => {
      fc.assert(
        fc.property(fc.array(candidates, { minLength: 1, maxLength: 25 }), (names) => {
          const body = names.map((n) => `if is_release_id ${assignValue(n)}; then printf 1; else printf 0; fi`);
          const r = run(hostScript({ host: "h", functions: [IS_RELEASE_ID_SH], body }), { shell });
          expect(r.stderr).toBe("");
          expect(r.stdout).toBe(names.map((n) => (isReleaseId(n) ? "1" : "0")).join(""));
        }),
        { numRuns: 40 },
      );
    });
  }
});

function assignValue(v: string): string {
  return assign("x", v).slice(2);
}

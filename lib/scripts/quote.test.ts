import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { quote, raw, sh } from "./quote";
import { SHELLS, run } from "./testing/sandbox";
import { nasty } from "./testing/arbitraries";

describe("quote", () => {
  it("leaves plain words alone and single-quotes the rest", () => {
    expect(quote("web1")).toBe("web1");
    expect(quote("/srv/app")).toBe("/srv/app");
    expect(quote(42)).toBe("42");
    expect(quote("")).toBe("''");
    expect(quote("it's")).toBe("'it'\\''s'");
    expect(quote("$(id)")).toBe("'$(id)'");
  });

  it("refuses a NUL byte", () => {
    expect(() => quote("a\0b")).toThrow(/NUL/);
  });

  it("sh quotes values and keeps raw text", () => {
    expect(sh`ln -s ${"a b"} ${raw('"$x"')} ${["c", "d e"]}`).toBe(`ln -s 'a b' "$x" c 'd e'`);
  });

  for (const shell of SHELLS) {
    it(`property: ${shell} reads every quoted value back unchanged`, () => {
      fc.assert(
        fc.property(fc.array(nasty, { minLength: 1, maxLength: 20 }), (values) => {
          // One word per value, NUL-separated on output, so word splitting would show too.
          const r = run(`printf '%s\\0' ${values.map((v) => quote(v)).join(" ")}`, { shell });
          expect(r.stderr).toBe("");
          expect(r.stdout.split("\0").slice(0, -1)).toEqual(values);
        }),
        { numRuns: 60 },
      );
    });
  }
});

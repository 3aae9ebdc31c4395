import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { assertReleaseId, isReleaseId, parseReleaseId, releaseId, validateVersionLabel } from "./release-id";

const SHA = "0123456789abcdef".repeat(4);

describe("releaseId", () => {
  it("is <version>-<first 12 hex of the sha>", () => {
    expect(releaseId("v2.3.1", SHA)).toBe("v2.3.1-0123456789ab");
    expect(releaseId("2026-11-22_1", SHA.toUpperCase())).toBe("2026-11-22_1-0123456789ab");
  });

  it("rejects bad labels naming version and the fix", () => {
    expect(() => releaseId("v 2", SHA)).toThrow(
      'version "v 2" is invalid: use 1-40 characters: letters, digits, ".", "_" or "-", starting with a letter or digit (e.g. "v2.3.1")',
    );
    for (const bad of ["", "-v2", ".v2", "v2/3", "v2;rm", "a".repeat(41), "v2\n", "é"]) {
      expect(() => releaseId(bad, SHA)).toThrow(/^version /);
    }
    expect(validateVersionLabel("a".repeat(40))).toBe("a".repeat(40));
  });

  it("rejects a bad digest naming sha256", () => {
    expect(() => releaseId("v1", "abc")).toThrow(/^sha256 "abc" is invalid: use the 64 hex digits/);
    expect(() => releaseId("v1", "g".repeat(64))).toThrow(/^sha256 /);
  });
});

describe("isReleaseId", () => {
  it("accepts ids and nothing else", () => {
    expect(isReleaseId("v2.3.1-0123456789ab")).toBe(true);
    expect(isReleaseId("a-b-c-0123456789ab")).toBe(true);
    for (const no of [
      "0123456789ab", // no label
      "-0123456789ab",
      "v1-0123456789AB", // uppercase digest: ids are made lowercase
      "v1-0123456789a",
      "v1-0123456789abc",
      "v1-0123456789ab.tmp",
      ".v1-0123456789ab",
      "v1-0123456789ab\n",
      "logs",
      "current",
      `${"a".repeat(41)}-0123456789ab`,
      42,
      undefined,
    ]) {
      expect(isReleaseId(no), String(no)).toBe(false);
    }
  });

  it("assertReleaseId names the argument", () => {
    expect(() => assertReleaseId("nope", "rollbackTo")).toThrow(/^rollbackTo "nope" is invalid: use an id made by releaseId/);
  });

  it("parseReleaseId splits the parts", () => {
    expect(parseReleaseId("a-b-0123456789ab")).toEqual({ version: "a-b", shaPrefix: "0123456789ab" });
  });
});

describe("release id properties", () => {
  const label = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$/);
  const sha = fc.stringMatching(/^[0-9a-f]{64}$/);

  it("every id made by releaseId is recognised and round-trips", () => {
    fc.assert(
      fc.property(label, sha, (l, s) => {
        const id = releaseId(l, s);
        expect(isReleaseId(id)).toBe(true);
        expect(parseReleaseId(id)).toEqual({ version: l, shaPrefix: s.slice(0, 12) });
      }),
    );
  });

  it("ids never contain characters that need quoting in JSON or the shell", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 60 }), (s) => {
        if (isReleaseId(s)) expect(s).toMatch(/^[A-Za-z0-9._-]+$/);
      }),
    );
  });

  it("different digests give different ids for the same label", () => {
    fc.assert(
      fc.property(label, sha, sha, (l, a, b) => {
        fc.pre(a.slice(0, 12) !== b.slice(0, 12));
        expect(releaseId(l, a)).not.toBe(releaseId(l, b));
      }),
    );
  });
});

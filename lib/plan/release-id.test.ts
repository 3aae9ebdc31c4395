import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { assertReleaseId, isReleaseId, parseReleaseId, preparedReleaseId, releaseId, validateVersionLabel } from "./release-id";

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

describe("preparedReleaseId", () => {
  const artifact = "v2.3.1-0123456789ab";

  it("is the artifact's id without prepare settings", () => {
    expect(preparedReleaseId(artifact, undefined)).toBe(artifact);
    expect(preparedReleaseId(artifact, { linkedDirs: [], buildHooks: { web: [] }, installCommand: " " })).toBe(artifact);
  });

  it("keeps the version and changes the digest with every setting that changes the prepared directory", () => {
    const base = { linkedDirs: ["log"], installCommand: "npm ci" };
    const ids = [
      preparedReleaseId(artifact, base),
      preparedReleaseId(artifact, { ...base, installCommand: "npm ci --omit=dev" }),
      preparedReleaseId(artifact, { ...base, linkedDirs: ["log", "tmp"] }),
      preparedReleaseId(artifact, { ...base, linkedFiles: [".env"] }),
      preparedReleaseId(artifact, { ...base, buildHooks: { web: ["make"] } }),
      preparedReleaseId(artifact, { ...base, buildHooks: { worker: ["make"] } }),
      preparedReleaseId(artifact, { ...base, buildHooks: { web: ["make", "make assets"] } }),
      preparedReleaseId(artifact, { ...base, buildHooks: { web: ["make assets", "make"] } }), // hooks run in order
      preparedReleaseId("v2.3.1-fedcba987654", base),
    ];
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^v2\.3\.1-[0-9a-f]{12}$/);
    expect(ids).not.toContain(artifact);
  });

  it("is the same for the same settings written otherwise: linked paths in another order, trailing slashes, spaces around the command", () => {
    expect(preparedReleaseId(artifact, { linkedDirs: ["tmp/", "log", "log"], installCommand: " npm ci\n", buildHooks: { worker: ["a"], web: ["b"] } })).toBe(
      preparedReleaseId(artifact, { linkedDirs: ["log", "tmp"], installCommand: "npm ci", buildHooks: { web: ["b"], worker: ["a"] } }),
    );
  });

  it("refuses what is not a release id", () => {
    expect(() => preparedReleaseId("v2", { installCommand: "npm ci" })).toThrow(/^releaseId "v2" is invalid/);
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

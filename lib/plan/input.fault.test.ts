// Bad release labels and a missing source dir are refused before anything is built or any
// host is touched, with a message naming the argument and the fix.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { validateVersionLabel } from "./release-id";
import { buildArtifact } from "../artifact/build";

const LABEL_FIX = /^(version|versionLabel) .* is invalid: use 1-40 characters: letters, digits, "\.", "_" or "-", starting with a letter or digit \(e\.g\. "v2\.3\.1"\)$/;

describe("release labels", () => {
  it("refuses .., /, whitespace, quotes, newlines, shell syntax, option-like and over-long labels", () => {
    const bad = ["..", "../v1", "v1/..", "v1/2", "/v1", "v 1", " v1", "v1\t", "v1'", 'v1"', "v1`id`", "v1\n", "v\r1", "$(id)", "v1;rm", "v1|x", "v1&", "v1>x", "-v1", ".v1", "", "a".repeat(41)];
    for (const label of bad) expect(() => validateVersionLabel(label)).toThrow(LABEL_FIX);
  });

  it("property: a label is accepted exactly when it is 1-40 of [A-Za-z0-9._-] starting with a letter or digit", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 45 }), (label) => {
        const ok = /^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$/.test(label);
        if (ok) expect(validateVersionLabel(label)).toBe(label);
        else expect(() => validateVersionLabel(label)).toThrow(LABEL_FIX);
      }),
      { numRuns: 500 },
    );
  });

  it("buildArtifact refuses a bad label before reading the source dir", async () => {
    await expect(buildArtifact({ sourceDir: "/nonexistent", versionLabel: "v1 beta", outDir: os.tmpdir() })).rejects.toThrow(LABEL_FIX);
  });
});

describe("source dir", () => {
  it("a missing source dir names the path and the fix", async () => {
    const missing = path.join(os.tmpdir(), "cutover-no-such-app-dir");
    await expect(buildArtifact({ sourceDir: missing, versionLabel: "v1", outDir: os.tmpdir() })).rejects.toThrow(
      `sourceDir ${JSON.stringify(missing)} does not exist (resolved from ${process.cwd()}); pass the app directory, e.g. path.join(__dirname, "app")`,
    );
  });

  it("a file instead of a directory, and an empty path", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-src-"));
    try {
      const file = path.join(dir, "server.js");
      fs.writeFileSync(file, "");
      await expect(buildArtifact({ sourceDir: file, versionLabel: "v1", outDir: dir })).rejects.toThrow(/is a file; pass the directory that contains the app/);
      await expect(buildArtifact({ sourceDir: "", versionLabel: "v1", outDir: dir })).rejects.toThrow(/sourceDir must be the path of the app directory/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

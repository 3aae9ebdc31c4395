import { describe, expect, it } from "vitest";
import { artifactReleaseId, validateVersionLabel } from "./release-id";

const SHA = "0123456789abcdef".repeat(4);

describe("artifactReleaseId", () => {
  it("is the label, a dash and the first 12 hex chars of the sha", () => {
    expect(artifactReleaseId("v1.2.3", SHA)).toBe("v1.2.3-0123456789ab");
  });

  it("rejects a sha that is not 64 lowercase hex chars", () => {
    expect(() => artifactReleaseId("v1", SHA.toUpperCase())).toThrow(/sha256/);
    expect(() => artifactReleaseId("v1", SHA.slice(1))).toThrow(/sha256/);
  });

  it("names versionLabel, the value and the rule when the label is bad", () => {
    expect(() => validateVersionLabel("my release")).toThrow(
      /^versionLabel "my release" is not valid: use 1 to 40 characters from A-Z a-z 0-9 \. _ -, starting with a letter or digit/,
    );
    expect(() => validateVersionLabel(undefined)).toThrow(/versionLabel undefined/);
  });
});

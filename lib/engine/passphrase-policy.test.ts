// The development passphrase is for local stacks only (issue 10, security).
import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { DEV_PASSPHRASE, readSecretsSettings, requireSecretsProtection, stackSecretsProvider } from "./passphrase-policy";

const defaulted = { PULUMI_CONFIG_PASSPHRASE: DEV_PASSPHRASE, CUTOVER_DEFAULT_PASSPHRASE: "1" };

describe("requireSecretsProtection", () => {
  it("lets every local stack use the default, whatever its name", () => {
    for (const name of ["dev", "demo", "bench", "fleettest", "prod"]) {
      expect(() => requireSecretsProtection(name, "local", defaulted)).not.toThrow();
    }
    // stacks/index.ts reads a missing cutover:provider as local.
    expect(() => requireSecretsProtection("dev", undefined, defaulted)).not.toThrow();
  });

  it("refuses a non-local stack on the applied default, naming both fixes", () => {
    const run = () => requireSecretsProtection("prod", "aws", defaulted);
    expect(run).toThrow(/stack "prod" \(cutover:provider aws\) refuses to run: no PULUMI_CONFIG_PASSPHRASE was set/);
    expect(run).toThrow(/export PULUMI_CONFIG_PASSPHRASE=/);
    expect(run).toThrow(/pulumi stack change-secrets-provider --stack prod/);
  });

  it("refuses a name that sounds local when the stack deploys elsewhere", () => {
    expect(() => requireSecretsProtection("dev", "aws", defaulted)).toThrow(/stack "dev"/);
  });

  it("refuses the published passphrase set by hand, and an empty one", () => {
    expect(() => requireSecretsProtection("prod", "aws", { PULUMI_CONFIG_PASSPHRASE: DEV_PASSPHRASE })).toThrow(/published in this repository/);
    expect(() => requireSecretsProtection("prod", "aws", { PULUMI_CONFIG_PASSPHRASE: "" })).toThrow(/is empty/);
  });

  it("accepts a real passphrase, a passphrase file, or a key service", () => {
    expect(() => requireSecretsProtection("prod", "aws", { PULUMI_CONFIG_PASSPHRASE: "a long one" })).not.toThrow();
    expect(() => requireSecretsProtection("prod", "aws", { PULUMI_CONFIG_PASSPHRASE_FILE: "/run/secrets/p" })).not.toThrow();
    expect(() => requireSecretsProtection("prod", "aws", defaulted, { secretsProvider: "awskms://alias/cutover" })).not.toThrow();
    expect(() => requireSecretsProtection("prod", "aws", defaulted, { secretsProvider: "passphrase" })).toThrow(/refuses to run/);
  });

  it("reads the secrets provider from the stack's settings file", () => {
    expect(stackSecretsProvider("config:\n  a: b\nsecretsprovider: awskms://alias/x?region=eu-west-1\n")).toBe("awskms://alias/x?region=eu-west-1");
    expect(stackSecretsProvider("secretsprovider: 'hashivault://k'\n")).toBe("hashivault://k");
    expect(stackSecretsProvider("encryptionsalt: v1:abc\n")).toBeUndefined();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-policy-"));
    try {
      fs.writeFileSync(path.join(dir, "Pulumi.prod.yaml"), "secretsprovider: gcpkms://projects/p/keys/k\n");
      expect(readSecretsSettings(dir, "prod")).toEqual({ secretsProvider: "gcpkms://projects/p/keys/k" });
      expect(readSecretsSettings(dir, "other")).toEqual({});
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("scripts/engine-env.sh", () => {
  const envSh = path.resolve(__dirname, "..", "..", "scripts", "engine-env.sh");
  const after = (setup: string) => {
    const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-env-"));
    try {
      return execFileSync(
        "bash",
        ["-c", `unset PULUMI_CONFIG_PASSPHRASE PULUMI_CONFIG_PASSPHRASE_FILE CUTOVER_DEFAULT_PASSPHRASE; ${setup}; . "$1"; . "$1"; echo "\${PULUMI_CONFIG_PASSPHRASE-unset}|\${CUTOVER_DEFAULT_PASSPHRASE-unset}"`, "x", envSh],
        { encoding: "utf8", env: { ...process.env, CUTOVER_CACHE: cacheDir, PULUMI_BACKEND_URL: "file:///nonexistent" } },
      ).trim();
    } finally {
      fs.rmSync(cacheDir, { recursive: true, force: true });
    }
  };

  it("applies the default only when no passphrase is given, and says so", () => {
    expect(after("true")).toBe(`${DEV_PASSPHRASE}|1`);
    expect(after("export PULUMI_CONFIG_PASSPHRASE=s3cret")).toBe("s3cret|unset");
    expect(after("export PULUMI_CONFIG_PASSPHRASE_FILE=/p")).toBe("unset|unset");
    expect(after("export PULUMI_CONFIG_PASSPHRASE=s3cret CUTOVER_DEFAULT_PASSPHRASE=1")).toBe("s3cret|unset");
  });
});

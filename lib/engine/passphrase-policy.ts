// Which stacks may run on the well-known development passphrase.
//
// scripts/engine-env.sh (sourced by every project script that runs Pulumi) sets
// PULUMI_CONFIG_PASSPHRASE=cutover-dev when no passphrase was given, and then exports
// CUTOVER_DEFAULT_PASSPHRASE=1. That script cannot know the stack; the program can. A published
// passphrase protects nothing, so it is acceptable only for stacks whose every secret (the
// deploy key of a fleet on this machine's loopback addresses) stays on this machine: the stacks
// that deploy with `cutover:provider local` (dev, demo, bench and the tests all do). Stack
// names are not used: a stack called "dev" that deploys to real servers is not local.
import * as fs from "node:fs";
import * as path from "node:path";

/** The passphrase engine-env.sh applies when none is set. Public: it is in this repository. */
export const DEV_PASSPHRASE = "cutover-dev";

/** The `cutover:provider` whose stacks deploy only to this machine. */
export const LOCAL_PROVIDER = "local";

export interface SecretsSettings {
  /**
   * The stack's `secretsprovider` from Pulumi.<stack>.yaml when it has one (e.g. awskms://…):
   * secrets are then not encrypted with the passphrase at all.
   */
  secretsProvider?: string;
}

/** Passphrase-based encryption, which the passphrase variables decide. */
function usesPassphrase(settings: SecretsSettings): boolean {
  const p = settings.secretsProvider?.trim();
  return !p || p === "passphrase" || p === "default";
}

/**
 * Throws, naming the fix, when a stack that is not local would keep its secrets (state, the
 * deploy key output, config) under the well-known development passphrase or an empty one.
 */
export function requireSecretsProtection(
  stackName: string,
  provider: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  settings: SecretsSettings = {},
): void {
  if ((provider ?? LOCAL_PROVIDER) === LOCAL_PROVIDER) return;
  if (!usesPassphrase(settings)) return;
  const passphrase = env.PULUMI_CONFIG_PASSPHRASE;
  const fromFile = !!env.PULUMI_CONFIG_PASSPHRASE_FILE && passphrase === undefined;
  if (fromFile) return;
  let problem: string | undefined;
  if (env.CUTOVER_DEFAULT_PASSPHRASE === "1" && passphrase === DEV_PASSPHRASE) {
    problem = `no PULUMI_CONFIG_PASSPHRASE was set, so the project's scripts applied the development default "${DEV_PASSPHRASE}"`;
  } else if (passphrase === DEV_PASSPHRASE) {
    problem = `PULUMI_CONFIG_PASSPHRASE is the development passphrase "${DEV_PASSPHRASE}", which is published in this repository`;
  } else if (passphrase === "") {
    problem = "PULUMI_CONFIG_PASSPHRASE is empty";
  }
  if (!problem) return;
  throw new Error(
    `stack "${stackName}" (cutover:provider ${provider}) refuses to run: ${problem}; ` +
      `only stacks with cutover:provider ${LOCAL_PROVIDER} may use it, and this stack's secrets ` +
      `(its state, the deploy key) would be protected by nothing. Fix: ` +
      "`export PULUMI_CONFIG_PASSPHRASE='<a strong passphrase>'` (or PULUMI_CONFIG_PASSPHRASE_FILE) before running pulumi, " +
      `or move the stack's secrets to a key service with \`pulumi stack change-secrets-provider --stack ${stackName} <awskms://…|azurekeyvault://…|gcpkms://…|hashivault://…>\`. ` +
      `If the stack was created under "${DEV_PASSPHRASE}", rotate it: ` +
      `\`PULUMI_CONFIG_PASSPHRASE=${DEV_PASSPHRASE} pulumi stack change-secrets-provider --stack ${stackName} passphrase\` and then run with the new passphrase.`,
  );
}

/** The `secretsprovider` of a Pulumi.<stack>.yaml text, if it has one (a top-level line). */
export function stackSecretsProvider(yamlText: string): string | undefined {
  const m = /^secretsprovider:[ \t]*(?:"([^"\n]*)"|'([^'\n]*)'|([^\s#]+))/m.exec(yamlText);
  return m ? (m[1] ?? m[2] ?? m[3]) : undefined;
}

/** The stack's settings from Pulumi.<stack>.yaml in `projectDir` (none when the file is absent). */
export function readSecretsSettings(projectDir: string, stackName: string): SecretsSettings {
  const file = path.join(projectDir, `Pulumi.${stackName}.yaml`);
  return fs.existsSync(file) ? { secretsProvider: stackSecretsProvider(fs.readFileSync(file, "utf8")) } : {};
}

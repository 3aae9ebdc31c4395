// `cutover:index:Deployment`, the component of the multi-language package: the same deploy a
// TypeScript stack builds (stacks/index.ts, `cutover:provider: ssh`), from declarative
// arguments only, so a YAML (or any Pulumi language) program can use it:
// - `inventory`: the hosts and their balancer as data — written out, or another stack's
//   `inventory` output (a fleet stack publishes it) through a StackReference;
// - `sshPrivateKey`: the deploy key, a secret;
// - `app`: what to deploy and how, the keys of a TypeScript stack's `cutover:app` block.
// The engine asks Cutover's provider plugin to construct it (lib/engine/cutover-provider); the
// plugin builds it here, in its own process, children and all.
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "../pulumi";
import { InputPropertyError } from "@pulumi/pulumi/errors";
import { Deployment } from "../components/deployment";
import { haproxyMembership } from "../providers/lb/haproxy";
import { InventorySpec, parseInventory } from "../providers/hosts/inventory";
import { buildArtifact } from "../artifact";
import { CutoverInputError, UnknownKeyError, refuseUnknownKeys } from "../plan";
import { APP_CONFIG_KEYS, AppConfig, appConfigKey, artifactDir, checkAppConfig, deploymentSettings, resolveSource } from "../config/app-config";
import { INVENTORY_CONFIG_KEYS } from "../config/inventory-keys";
import { DEPLOYMENT_TYPE } from "./schema";

export interface PackageDeploymentArgs {
  inventory: InventorySpec;
  sshPrivateKey: pulumi.Input<string>;
  app: AppConfig;
}

/** The arguments as the user wrote them: `app.rollout.batchSize`, `inventory.hosts[0].address`. */
const argumentAsWritten = (argument: string) => appConfigKey(argument)?.replace(/^cutover:app/, "app") ?? (argument.startsWith("hosts") ? `inventory.${argument}` : argument);

class PackageDeployment extends pulumi.ComponentResource {
  readonly releaseId: pulumi.Output<string>;
  readonly rolloutPlan: string[];

  constructor(name: string, args: PackageDeploymentArgs, opts: pulumi.ComponentResourceOptions) {
    super(DEPLOYMENT_TYPE, name, {}, opts);
    const { app, inventory } = args;
    const stack = pulumi.getStack();
    refuseUnknownKeys(app, APP_CONFIG_KEYS, "app");
    refuseUnknownKeys(inventory, INVENTORY_CONFIG_KEYS, "inventory");
    const projectDir = projectDirectory();
    checkAppConfig(app, stack, projectDir);
    const parsed = parseInventory(inventory, pulumi.secret(args.sshPrivateKey), "inventory");
    const lb = parsed.loadBalancer;
    const hiding = app.rollout?.hideFromLoadBalancer !== false;
    const deployment = new Deployment(
      name,
      {
        ...deploymentSettings(app, stack),
        hosts: parsed.hosts,
        ...(app.release ? {} : { artifact: buildArtifact({ sourceDir: resolveSource(app, projectDir), versionLabel: app.version, outDir: artifactDir() }) }),
        loadBalancer: hiding && lb ? haproxyMembership({ host: lb.host, adminSocket: lb.adminSocket, backend: lb.backend, role: lb.role }) : undefined,
      },
      { parent: this },
    );
    this.releaseId = deployment.releaseId;
    this.rolloutPlan = deployment.rolloutPlan;
    this.registerOutputs({ releaseId: this.releaseId, rolloutPlan: this.rolloutPlan });
  }
}

/**
 * The program's project directory, which relative paths (`app.source`) are relative to: the
 * engine starts the plugin in the program's directory (`main: bin/index.js` → bin/), at or
 * below the one of Pulumi.yaml.
 */
function projectDirectory(): string {
  for (let dir = process.cwd(); ; dir = path.dirname(dir)) {
    if (["Pulumi.yaml", "Pulumi.yml"].some((f) => fs.existsSync(path.join(dir, f)))) return dir;
    if (path.dirname(dir) === dir) return process.cwd();
  }
}

/** An argument's value, which must be known while the program runs (the hosts decide the graph). */
async function known<T>(name: string, value: pulumi.Input<T>): Promise<T> {
  const o = pulumi.output(value) as unknown as { isKnown: Promise<boolean>; promise(): Promise<T> };
  if (!(await o.isKnown)) {
    throw new CutoverInputError(name, "(known only after the update)", "give values known while the program runs: data, config, or another stack's outputs");
  }
  return o.promise();
}

/** `version: 2` in YAML is a number: as a label it is the text "2". */
const labelAsText = (app: AppConfig): AppConfig => (typeof app?.version === "number" ? { ...app, version: String(app.version) } : app);

/** The plugin's construct: bad input is refused as a property error, in one line. */
export async function constructDeployment(name: string, inputs: pulumi.Inputs, opts: pulumi.ComponentResourceOptions): Promise<{ urn: pulumi.Output<string>; state: pulumi.Inputs }> {
  try {
    const args: PackageDeploymentArgs = {
      inventory: await known("inventory", inputs.inventory as pulumi.Input<InventorySpec>),
      app: labelAsText(await known("app", inputs.app as pulumi.Input<AppConfig>)),
      sshPrivateKey: inputs.sshPrivateKey as pulumi.Input<string>,
    };
    if (args.sshPrivateKey === undefined) throw new CutoverInputError("sshPrivateKey", undefined, "give the deploy key (a secret), e.g. another stack's deployKey output");
    const d = new PackageDeployment(name, args, opts);
    return { urn: d.urn, state: { releaseId: d.releaseId, rolloutPlan: d.rolloutPlan } };
  } catch (e) {
    if (!(e instanceof CutoverInputError)) throw e;
    // The engine prints it as `property <path> with value '<value>' has a problem: <reason>`.
    throw new InputPropertyError({ propertyPath: argumentAsWritten(e.argument), reason: e instanceof UnknownKeyError ? `unknown key; ${e.fix}` : e.fix });
  }
}

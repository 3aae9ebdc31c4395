/**
 * The `command` provider's resources (`command:local:Command`, `command:remote:Command`) as
 * @pulumi/command 1.x's schema defines them: the same type tokens, inputs, outputs, plugin
 * version, secret connection and replace-on-`triggers`. The package's own classes load
 * @pulumi/pulumi's index (see lib/pulumi.ts), which costs ~0.7 s of every `up`. Types come from
 * the package itself, so a schema change shows here at compile time.
 */
import * as fs from "node:fs";
import type { local, remote } from "@pulumi/command";
import * as pulumi from "../pulumi";

/** The plugin version the engine loads: the installed @pulumi/command's, as its SDK says. */
const PLUGIN_VERSION: string = JSON.parse(fs.readFileSync(require.resolve("@pulumi/command/package.json"), "utf8")).version;

function inputsWithOutputs(args: object, outputs: string[]): Record<string, unknown> {
  return { ...args, ...Object.fromEntries(outputs.map((k) => [k, undefined])) };
}

function optionsOf(opts: pulumi.CustomResourceOptions | undefined, secretOutputs: string[] = []): pulumi.CustomResourceOptions {
  return pulumi.mergeOptions(
    { version: PLUGIN_VERSION, replaceOnChanges: ["triggers[*]"], ...(secretOutputs.length ? { additionalSecretOutputs: secretOutputs } : {}) },
    opts,
  );
}

export class LocalCommand extends pulumi.CustomResource {
  declare readonly stdout: pulumi.Output<string>;
  declare readonly stderr: pulumi.Output<string>;
  constructor(name: string, args: local.CommandArgs, opts?: pulumi.CustomResourceOptions) {
    super("command:local:Command", name, inputsWithOutputs(args, ["stdout", "stderr", "assets", "archive"]), optionsOf(opts));
  }
}

/**
 * A command on a host over SSH. The connection must carry every field the schema defaults
 * (port, user, dialErrorLimit, perDialTimeout, on each hop): connectionOf (host.ts) sets them.
 */
export class RemoteCommand extends pulumi.CustomResource {
  declare readonly stdout: pulumi.Output<string>;
  declare readonly stderr: pulumi.Output<string>;
  constructor(name: string, args: remote.CommandArgs, opts?: pulumi.CustomResourceOptions) {
    const connection = pulumi.secret(args.connection);
    super("command:remote:Command", name, inputsWithOutputs({ ...args, connection }, ["stdout", "stderr"]), optionsOf(opts, ["connection"]));
  }
}

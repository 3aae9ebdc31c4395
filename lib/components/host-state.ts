// One host's served release in Pulumi's state, read back by `pulumi refresh` (the `cutover`
// provider plugin, lib/engine/cutover-provider/host-state.ts, says why a provider of our own).
import * as pulumi from "../pulumi";
import { Host, connectionOf } from "./host";
import { packageVersion } from "../engine/cutover-provider/version";

/** The plugin's version: the package's own (scripts/engine.sh registers it under that version). */
const version = packageVersion();

export class HostState extends pulumi.CustomResource {
  /** The release `current` named when the state was last written or refreshed. */
  declare readonly served: pulumi.Output<string>;
  /** Goes up by one each time an update finds the host drifted: the host's steps run again. */
  declare readonly generation: pulumi.Output<number>;

  constructor(name: string, args: { host: Host; release: pulumi.Input<string> }, opts?: pulumi.CustomResourceOptions) {
    const { host, release } = args;
    super(
      "cutover:index:HostState",
      name,
      { host: host.name, release, root: host.root, connection: connectionOf(host), served: undefined, generation: undefined },
      { ...opts, version, additionalSecretOutputs: ["connection"] },
    );
  }
}

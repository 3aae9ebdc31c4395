// One host's copy of a release: `releases/<id>` prepared on the host (uploaded, verified,
// unpacked, shared paths linked, installed, built). A release already there is left alone;
// a release targeted by id (a rollback) must already be there.
import * as pulumi from "../pulumi";
import { LocalCommand } from "./command";
import { Host } from "./host";
import { stepCommand, StepArgs } from "./step-command";

export interface ReleaseDirectoryArgs extends Omit<StepArgs, "job" | "host"> {
  host: Host;
}

export class ReleaseDirectory extends pulumi.ComponentResource {
  /** Completes when the release is prepared on the host. */
  readonly prepared: LocalCommand;

  constructor(name: string, args: ReleaseDirectoryArgs, opts?: pulumi.ComponentResourceOptions) {
    super("cutover:deploy:ReleaseDirectory", name, {}, opts);
    const { host, ...step } = args;
    this.prepared = stepCommand(`${name}-prepare`, { ...step, job: "prepare", host: host.name }, { parent: this, dependsOn: host.ready });
    this.registerOutputs({});
  }
}

// A locked step on one host whose script changes with the release (activate, migrate,
// prune): the release id is part of the script, so a new release runs it again and an
// unchanged `up` runs nothing.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { Host, connectionOf } from "./host";
import { lockedStep } from "../scripts/locked";
import { LockArgs } from "../scripts/lock";

export function hostStep(
  name: string,
  host: Host,
  lock: Omit<LockArgs, "root" | "host" | "release">,
  releaseId: pulumi.Input<string>,
  build: (releaseId: string) => string,
  opts: pulumi.CustomResourceOptions,
): command.remote.Command {
  const text = pulumi.output(releaseId).apply((id) => lockedStep({ ...lock, root: host.root, host: host.name, release: id }, build(id)));
  return new command.remote.Command(
    name,
    { connection: connectionOf(host), create: text, update: text, addPreviousOutputInEnv: false },
    opts,
  );
}

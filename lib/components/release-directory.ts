// One host's copy of a release: upload the artifact, then prepare releases/<id> (verify,
// unpack, link shared paths, install, build hooks, mark prepared). Idempotent on the host
// (an already-prepared release is left as it is) and in Pulumi (same inputs, nothing runs).
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { Host, connectionOf } from "./host";
import { layout } from "../scripts/layout";
import { prepareRelease } from "../scripts/release";
import { lockedStep } from "../scripts/locked";
import { script, sh } from "../scripts/quote";
import { LockArgs } from "../scripts/lock";

/** A built artifact: a tar.gz on this machine, its checksum and the release id. */
export interface ArtifactRef {
  path: string;
  sha256: string;
  releaseId: string;
}

export interface PrepareSpec {
  linkedDirs?: string[];
  linkedFiles?: string[];
  installCommand?: string;
  /** Extra commands by role, run after install on hosts with that role. */
  buildHooks?: Record<string, string[]>;
}

export interface ReleaseDirectoryArgs {
  host: Host;
  artifact: pulumi.Input<ArtifactRef>;
  prepare: PrepareSpec;
  lock: Omit<LockArgs, "root" | "host" | "release">;
}

export const uploadPath = (root: string, releaseId: string) => `${layout(root).cutoverDir}/uploads/${releaseId}.tar.gz`;

export class ReleaseDirectory extends pulumi.ComponentResource {
  /** Completes when the release is prepared on the host. */
  readonly prepared: command.remote.Command;

  constructor(name: string, args: ReleaseDirectoryArgs, opts?: pulumi.ComponentResourceOptions) {
    super("cutover:deploy:ReleaseDirectory", name, {}, opts);
    const { host } = args;
    const connection = connectionOf(host);
    const artifact = pulumi.output(args.artifact);
    const l = layout(host.root);

    const dirs = new command.remote.Command(
      `${name}-dirs`,
      {
        connection,
        create: script([sh`mkdir -p ${l.releasesDir} ${l.sharedDir} ${`${l.cutoverDir}/uploads`}`]),
        addPreviousOutputInEnv: false,
      },
      { parent: this, dependsOn: host.ready },
    );
    const upload = new command.remote.CopyToRemote(
      `${name}-upload`,
      {
        connection,
        source: artifact.apply((a) => new pulumi.asset.FileAsset(a.path)),
        remotePath: artifact.apply((a) => uploadPath(host.root, a.releaseId)),
      },
      { parent: this, dependsOn: [dirs] },
    );
    const hooks = Object.entries(args.prepare.buildHooks ?? {})
      .filter(([role]) => host.roles.includes(role))
      .flatMap(([, commands]) => commands);
    const step = artifact.apply((a) => {
      const prepare = prepareRelease({
        root: host.root,
        releaseId: a.releaseId,
        artifactPath: uploadPath(host.root, a.releaseId),
        sha256: a.sha256,
        linkedDirs: args.prepare.linkedDirs,
        linkedFiles: args.prepare.linkedFiles,
        installCommand: args.prepare.installCommand,
        buildHooks: hooks,
        host: host.name,
      });
      // The upload is only needed until the release is unpacked: removing it keeps old
      // tarballs from filling the disk.
      const prepareThenTidy = sh`sh -c ${prepare} && rm -f -- ${uploadPath(host.root, a.releaseId)}`;
      return lockedStep({ ...args.lock, root: host.root, host: host.name, release: a.releaseId }, prepareThenTidy);
    });
    this.prepared = new command.remote.Command(
      `${name}-prepare`,
      { connection, create: step, update: step, addPreviousOutputInEnv: false },
      { parent: this, dependsOn: [upload] },
    );
    this.registerOutputs({});
  }
}

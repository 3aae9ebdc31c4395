/** One deployable build of an app: a tar.gz on this machine, named by its content. */
export interface Artifact {
  /** Absolute path of the .tar.gz. */
  readonly path: string;
  /** Lowercase hex sha256 of the .tar.gz bytes; hosts verify the upload against it. */
  readonly sha256: string;
  /** Lowercase hex sha256 of the uncompressed tar stream: the same tree gives the same value on any Node. */
  readonly contentSha256: string;
  /** `<versionLabel>-<contentSha256[0:12]>`: the directory name under `releases/` on every host. */
  readonly releaseId: string;
  /** Size of the .tar.gz in bytes. */
  readonly size: number;
  /** Number of non-directory entries (regular files and symlinks) in the archive. */
  readonly files: number;
}

export interface BuildArtifactArgs {
  /** The app directory to pack; its contents become the root of the release directory. */
  readonly sourceDir: string;
  /** Human half of the release id, e.g. "v1.4.2"; see validateVersionLabel. */
  readonly versionLabel: string;
  /** Where `<releaseId>.tar.gz` is written; created if missing. */
  readonly outDir: string;
  /** Names (`node_modules`, `*.log`) or root-relative paths (`config/*.local.json`); `.git` always. */
  readonly exclude?: readonly string[];
}

export interface UseTarballArgs {
  /** A .tar.gz built elsewhere (e.g. by CI); its contents become the release directory. */
  readonly path: string;
  readonly versionLabel: string;
}

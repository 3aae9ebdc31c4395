import * as fs from "node:fs";
import * as path from "node:path";
import * as tar from "tar";
import { sha256File, sha256OfGunzipped } from "./hash";
import { artifactReleaseId, validateVersionLabel } from "./release-id";
import type { Artifact, UseTarballArgs } from "./types";

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);

/**
 * Adopts a tarball built elsewhere (CI, another tool) as the deploy's artifact. It is used
 * as is: the release id is taken from its bytes, so the same file always maps to the same
 * release. It is read through once here so that a truncated download or an archive that
 * would write outside the release directory fails on this machine, not on half the fleet.
 */
export async function useTarball(args: UseTarballArgs): Promise<Artifact> {
  const { path: given, versionLabel } = args;
  validateVersionLabel(versionLabel);
  if (typeof given !== "string" || given === "") {
    throw new Error(`path must be the path of a .tar.gz file, got ${JSON.stringify(given)}`);
  }
  const file = path.resolve(given);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new Error(
      `tarball ${JSON.stringify(given)} does not exist (looked at ${file}); build it first, ` +
        `or use buildArtifact({ sourceDir, … }) to pack a directory`,
    );
  }
  if (!stat.isFile()) {
    throw new Error(`tarball ${JSON.stringify(given)} is not a regular file; pass the .tar.gz itself`);
  }
  assertGzip(file, given);
  const files = await listMembers(file, given);
  const sha256 = await sha256File(file);
  const contentSha256 = await sha256OfGunzipped(file);
  return { path: file, sha256, contentSha256, releaseId: artifactReleaseId(versionLabel, contentSha256), size: stat.size, files };
}

function assertGzip(file: string, given: string): void {
  const head = Buffer.alloc(2);
  const fd = fs.openSync(file, "r");
  let n: number;
  try {
    n = fs.readSync(fd, head, 0, 2, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (n < 2 || !head.equals(GZIP_MAGIC)) {
    throw new Error(
      `tarball ${JSON.stringify(given)} is not gzip-compressed (first bytes ${head.subarray(0, n).toString("hex") || "none"}, ` +
        `expected 1f8b); create it with \`tar -czf app.tar.gz -C app .\``,
    );
  }
}

/** Counts non-directory members; rejects archives that are corrupt or that escape their root. */
async function listMembers(file: string, given: string): Promise<number> {
  let files = 0;
  let unsafe: string | undefined;
  try {
    await tar.t({
      file,
      strict: true,
      onReadEntry: (entry) => {
        const parts = entry.path.split("/");
        if (entry.path.startsWith("/") || parts.includes("..")) unsafe ??= entry.path;
        if (entry.type !== "Directory") files++;
      },
    });
  } catch (err) {
    throw new Error(
      `tarball ${JSON.stringify(given)} is not a readable tar.gz (${(err as Error).message}); ` +
        `re-create it with \`tar -czf app.tar.gz -C app .\``,
    );
  }
  if (unsafe !== undefined) {
    throw new Error(
      `tarball ${JSON.stringify(given)} has member ${JSON.stringify(unsafe)}, which would land outside ` +
        `the release directory; re-create it from inside the app (\`tar -czf app.tar.gz -C app .\`)`,
    );
  }
  if (files === 0) {
    throw new Error(`tarball ${JSON.stringify(given)} contains no files; a release cannot be empty`);
  }
  return files;
}

import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { compileExcludes } from "./exclude";
import { sha256File } from "./hash";
import { writeTarGz } from "./pack";
import { artifactReleaseId, validateVersionLabel } from "./release-id";
import type { Artifact, BuildArtifactArgs } from "./types";
import { walkApp } from "./walk";

/**
 * Packs `sourceDir` into `<outDir>/<releaseId>.tar.gz`. The same tree gives the same bytes
 * (and so the same release id) whatever the file mtimes, umask, inode sharing or readdir
 * order, which is what lets a re-run deploy recognise a release that is already on the hosts.
 *
 * The archive is written to a temp name and renamed into place, so a crash never leaves a
 * half-written file under a real release id. If the final file already exists with the same
 * hash it is kept as is (its mtime too), so re-running a deploy does not churn the file.
 */
export async function buildArtifact(args: BuildArtifactArgs): Promise<Artifact> {
  const { sourceDir, versionLabel, outDir, exclude = [] } = args;
  validateVersionLabel(versionLabel);
  const realRoot = resolveSourceDir(sourceDir);
  if (typeof outDir !== "string" || outDir === "") {
    throw new Error(`outDir must be a directory path (it is created if missing), got ${JSON.stringify(outDir)}`);
  }
  if (!Array.isArray(exclude)) {
    throw new Error(`exclude must be an array of names or paths such as ["node_modules", "*.log"]`);
  }
  const rules = compileExcludes(exclude);
  fs.mkdirSync(outDir, { recursive: true });
  const realOut = fs.realpathSync(outDir);

  // An outDir inside the app would otherwise pack last run's artifact into this one.
  const entries = walkApp(realRoot, rules, [realOut]);
  if (entries.length === 0) {
    throw new Error(
      `sourceDir ${JSON.stringify(sourceDir)} has nothing to pack after exclusions ` +
        `(${JSON.stringify(exclude)}); check the path and the \`exclude\` list`,
    );
  }

  const tmp = path.join(realOut, `.${versionLabel}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    const contentSha256 = await writeTarGz(realRoot, entries, tmp);
    const sha256 = await sha256File(tmp);
    const releaseId = artifactReleaseId(versionLabel, contentSha256);
    const final = path.join(realOut, `${releaseId}.tar.gz`);
    if (fs.existsSync(final) && (await sha256File(final)) === sha256) {
      fs.rmSync(tmp);
    } else {
      fs.renameSync(tmp, final);
    }
    return {
      path: final,
      sha256,
      contentSha256,
      releaseId,
      size: fs.statSync(final).size,
      files: entries.filter((e) => e.type !== "directory").length,
    };
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

function resolveSourceDir(sourceDir: string): string {
  if (typeof sourceDir !== "string" || sourceDir === "") {
    throw new Error(`sourceDir must be the path of the app directory to pack, got ${JSON.stringify(sourceDir)}`);
  }
  let real: string;
  try {
    real = fs.realpathSync(sourceDir);
  } catch {
    throw new Error(
      `sourceDir ${JSON.stringify(sourceDir)} does not exist (resolved from ${process.cwd()}); ` +
        `pass the app directory, e.g. path.join(__dirname, "app")`,
    );
  }
  if (!fs.statSync(real).isDirectory()) {
    throw new Error(`sourceDir ${JSON.stringify(sourceDir)} is a file; pass the directory that contains the app`);
  }
  return real;
}

import * as fs from "node:fs";
import * as path from "node:path";
import { ExcludeRule, isExcluded } from "./exclude";
import { assertSymlinkInside } from "./symlinks";

export type EntryType = "file" | "directory" | "symlink";

export interface AppEntry {
  /** Path from the app root with `/` separators, e.g. `bin/start`. */
  readonly path: string;
  readonly absolute: string;
  readonly type: EntryType;
  /**
   * lstat result with the permission bits and link count normalised (see `normalise`). The
   * packer takes it from here instead of stat'ing again, so what we decided is what is written.
   */
  readonly stat: fs.Stats;
}

/**
 * Every entry under `realRoot` that is not excluded, sorted bytewise by path, so the archive
 * does not depend on readdir order. Parents sort before their children because a path is a
 * prefix of its children's paths. `skip` holds absolute paths never to enter (the output dir,
 * when someone puts it inside the app).
 */
export function walkApp(realRoot: string, rules: readonly ExcludeRule[], skip: readonly string[] = []): AppEntry[] {
  const out: AppEntry[] = [];
  const visit = (dirAbs: string, dirRel: string): void => {
    for (const name of fs.readdirSync(dirAbs)) {
      const absolute = path.join(dirAbs, name);
      const rel = dirRel === "" ? name : `${dirRel}/${name}`;
      if (skip.includes(absolute)) continue;
      const stat = fs.lstatSync(absolute);
      if (isExcluded(rules, rel, stat.isDirectory())) continue;
      const type = entryType(stat, rel);
      if (type === "symlink") assertSymlinkInside(realRoot, absolute, fs.readlinkSync(absolute));
      out.push({ path: rel, absolute, type, stat: normalise(stat, type) });
      if (type === "directory") visit(absolute, rel);
    }
  };
  visit(realRoot, "");
  return out.sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
}

function entryType(stat: fs.Stats, rel: string): EntryType {
  if (stat.isFile()) return "file";
  if (stat.isDirectory()) return "directory";
  if (stat.isSymbolicLink()) return "symlink";
  const kind = stat.isSocket() ? "a socket" : stat.isFIFO() ? "a named pipe" : "a device file";
  throw new Error(
    `${JSON.stringify(rel)} in the app directory is ${kind}, which cannot go into a release; ` +
      `add it to \`exclude\` (sockets usually belong to a running dev server)`,
  );
}

/**
 * Permissions become 0644 / 0755 (any x bit set ⇒ executable) and directories 0755, so umask
 * and `chmod g+w` habits on the build machine do not change the hash. nlink = 1 makes the
 * packer write hard-linked files as plain copies: whether a checkout happens to share inodes
 * must not change the archive either.
 */
function normalise(stat: fs.Stats, type: EntryType): fs.Stats {
  const perm = type === "directory" ? 0o755 : type === "symlink" ? 0o777 : stat.mode & 0o111 ? 0o755 : 0o644;
  stat.mode = (stat.mode & fs.constants.S_IFMT) | perm;
  stat.nlink = 1;
  return stat;
}

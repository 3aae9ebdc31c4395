import * as fs from "node:fs";
import * as path from "node:path";

/**
 * Symlinks are packed as symlinks, but only if they stay inside the app: a release directory
 * that points at `/etc/…` or `../../other-release` works on this machine and breaks (or leaks)
 * on every host. Returns nothing; throws with the link, its target and the fix.
 *
 * Two checks, because either alone can be fooled:
 * - lexical: the target, normalised as text, must stay under the root (catches `../..`,
 *   absolute targets, and dangling links that would escape once unpacked);
 * - on disk: the kernel resolves `..` *after* following symlinks (`l -> sub`, `sub -> .`,
 *   `z -> l/..` leaves the root although its text does not), so the existing part of the
 *   target is resolved with realpath(3) (`fs.realpathSync.native`; the JS variant normalises
 *   `..` textually first, which is exactly the mistake we are guarding against).
 */
export function assertSymlinkInside(realRoot: string, linkAbs: string, target: string): void {
  const rel = path.relative(realRoot, linkAbs).split(path.sep).join("/");
  const fail = (why: string): never => {
    throw new Error(
      `symlink ${JSON.stringify(rel)} -> ${JSON.stringify(target)} ${why}; ` +
        `a release must be self-contained: make it a relative link to a path inside the app, ` +
        `copy the file in, or add ${JSON.stringify(rel)} to \`exclude\` ` +
        `(links into shared/ are created on the host by Cutover, not shipped in the artifact)`,
    );
  };
  if (path.isAbsolute(target)) fail("is absolute");
  if (!inside(realRoot, path.resolve(path.dirname(linkAbs), target))) fail("points outside the app directory");
  if (!inside(realRoot, resolveOnDisk(path.dirname(linkAbs), target))) {
    fail("resolves outside the app directory through another symlink");
  }
}

function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === "" || (!rel.startsWith(`..${path.sep}`) && rel !== ".." && !path.isAbsolute(rel));
}

/** realpath of the longest existing prefix of `dir/target`, the rest appended textually. */
function resolveOnDisk(dir: string, target: string): string {
  const parts = target.split("/").filter((p) => p !== "" && p !== ".");
  for (let n = parts.length; n >= 0; n--) {
    const candidate = [dir, ...parts.slice(0, n)].join("/");
    let real: string;
    try {
      real = fs.realpathSync.native(candidate);
    } catch {
      continue;
    }
    return path.resolve(real, ...parts.slice(n));
  }
  /* c8 ignore next: `dir` itself always exists while we walk it */
  return path.resolve(dir, target);
}

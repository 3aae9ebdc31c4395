import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { Transform } from "node:stream";
import * as zlib from "node:zlib";
import * as path from "node:path";
import { pipeline } from "node:stream/promises";
import * as tar from "tar";
import type { AppEntry } from "./walk";

/**
 * Every file gets this mtime, so touching a file (a fresh checkout, a CI cache restore) does
 * not change the artifact. 2000-01-01 rather than 0: some tools treat an mtime of 0 as
 * "unknown" and warn when extracting.
 */
export const FIXED_MTIME = new Date(Date.UTC(2000, 0, 1));

/**
 * Writes `entries` (already sorted and normalised by walkApp) as a gzip'd tar to `outFile`.
 *
 * Determinism comes from node-tar's own switches plus what we feed it:
 * - `portable`: no uid/gid/uname/gname/atime/ctime/dev/ino in the headers (the numeric owner
 *   fields stay empty, which GNU and BSD tar read as 0), and the gzip header's OS byte is set
 *   to 255 ("unknown"); Node's zlib already writes mtime 0 and no file name into it;
 * - `mtime`: one fixed time for files (portable mode leaves directory mtimes empty);
 * - `noDirRecurse` + an explicit list in our order, so tar never calls readdir itself;
 * - `statCache` pre-filled with our normalised stats, so the modes written are the ones we
 *   chose and hard links are stored as plain files;
 * - `Pack#write(path)` rather than `tar.c(opts, files)`: `tar.c` reads a file list entry
 *   starting with `@` as "append that archive", and an app may well contain such a name.
 * The compressed bytes can differ between zlib (i.e. Node) versions, so the release id is made
 * from the sha256 of the uncompressed tar stream, returned here: a rebuild of the same tree on
 * another Node gives the same id, and a rollback by id finds the release on the hosts.
 */
export async function writeTarGz(realRoot: string, entries: readonly AppEntry[], outFile: string): Promise<string> {
  const statCache = new Map<string, fs.Stats>(entries.map((e) => [path.resolve(realRoot, e.path), e.stat]));
  const pack = new tar.Pack({
    cwd: realRoot,
    portable: true,
    mtime: FIXED_MTIME,
    noDirRecurse: true,
    follow: false,
    strict: true,
    statCache,
  });
  const content = createHash("sha256");
  const hashTar = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      content.update(chunk);
      done(null, chunk);
    },
  });
  const written = pipeline(pack, hashTar, zlib.createGzip({ level: 9 }), fs.createWriteStream(outFile, { flags: "wx", mode: 0o644 }));
  for (const e of entries) pack.write(e.path);
  pack.end();
  await written;
  return content.digest("hex");
}

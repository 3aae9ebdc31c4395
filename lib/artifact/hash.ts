import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { pipeline } from "node:stream/promises";
import * as zlib from "node:zlib";

/** Hex sha256 of a file, streamed: artifacts can be larger than we want to hold in memory. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(fs.createReadStream(file), hash);
  return hash.digest("hex");
}

/** Hex sha256 of a .tar.gz's uncompressed content: what release ids are made from. */
export async function sha256OfGunzipped(file: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(fs.createReadStream(file), zlib.createGunzip(), hash);
  return hash.digest("hex");
}

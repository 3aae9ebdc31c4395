import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildArtifact, useTarball } from "./index";

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-prebuilt-"));
  fs.mkdirSync(path.join(dir, "app", "bin"), { recursive: true });
  fs.writeFileSync(path.join(dir, "app", "index.js"), "console.log(1)\n");
  fs.writeFileSync(path.join(dir, "app", "bin", "run"), "#!/bin/sh\n", { mode: 0o755 });
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("useTarball", () => {
  it("gives a tarball from buildArtifact the same sha and release id", async () => {
    const built = await buildArtifact({ sourceDir: path.join(dir, "app"), versionLabel: "v7", outDir: path.join(dir, "out") });
    const used = await useTarball({ path: built.path, versionLabel: "v7" });
    expect(used).toEqual(built);
  });

  it("takes a tarball made by the system tar, from a relative path", async () => {
    const file = path.join(dir, "ci.tar.gz");
    execFileSync("tar", ["-czf", file, "-C", path.join(dir, "app"), "."]);
    const sha = execFileSync("sha256sum", [file], { encoding: "utf8" }).split(" ")[0];
    // The id comes from the uncompressed content, so a re-compression keeps it.
    const content = execFileSync("sh", ["-c", 'gzip -dc "$1" | sha256sum', "sh", file], { encoding: "utf8" }).split(" ")[0];
    const used = await useTarball({ path: path.relative(process.cwd(), file), versionLabel: "ci-42" });
    expect(used).toEqual({ path: file, sha256: sha, contentSha256: content, releaseId: `ci-42-${content!.slice(0, 12)}`, size: fs.statSync(file).size, files: 2 });
  });

  it("says what to do when the file is missing or a directory", async () => {
    await expect(useTarball({ path: path.join(dir, "nope.tar.gz"), versionLabel: "v1" })).rejects.toThrow(
      /tarball ".*nope\.tar\.gz" does not exist .*build it first/,
    );
    await expect(useTarball({ path: dir, versionLabel: "v1" })).rejects.toThrow(/is not a regular file/);
  });

  it("rejects files that are not gzip, or gzip but not tar, or truncated", async () => {
    const plain = path.join(dir, "plain.tar");
    execFileSync("tar", ["-cf", plain, "-C", path.join(dir, "app"), "."]);
    await expect(useTarball({ path: plain, versionLabel: "v1" })).rejects.toThrow(/is not gzip-compressed \(first bytes [0-9a-f]+, expected 1f8b\); create it with `tar -czf/);

    const empty = path.join(dir, "empty.tar.gz");
    fs.writeFileSync(empty, "");
    await expect(useTarball({ path: empty, versionLabel: "v1" })).rejects.toThrow(/first bytes none/);

    const notTar = path.join(dir, "text.gz");
    fs.writeFileSync(notTar, gzipSync(Buffer.from("just some text, no tar headers here\n".repeat(40))));
    await expect(useTarball({ path: notTar, versionLabel: "v1" })).rejects.toThrow(/is not a readable tar\.gz/);

    const good = path.join(dir, "good.tar.gz");
    execFileSync("tar", ["-czf", good, "-C", path.join(dir, "app"), "."]);
    const truncated = path.join(dir, "truncated.tar.gz");
    fs.writeFileSync(truncated, fs.readFileSync(good).subarray(0, 40));
    await expect(useTarball({ path: truncated, versionLabel: "v1" })).rejects.toThrow(/is not a readable tar\.gz/);
  });

  it("rejects members that would land outside the release directory", async () => {
    const file = path.join(dir, "evil.tar.gz");
    fs.writeFileSync(path.join(dir, "outside.txt"), "x");
    execFileSync("tar", ["-czPf", file, "-C", path.join(dir, "app"), "index.js", "../outside.txt"]);
    await expect(useTarball({ path: file, versionLabel: "v1" })).rejects.toThrow(/member "\.\.\/outside\.txt", which would land outside/);
  });

  it("validates versionLabel before touching the file", async () => {
    await expect(useTarball({ path: path.join(dir, "nope"), versionLabel: "bad label" })).rejects.toThrow(/^versionLabel "bad label"/);
  });
});

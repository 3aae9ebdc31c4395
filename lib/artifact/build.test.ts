import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { buildArtifact } from "./index";

// Each test builds real trees in a temp dir and checks the archive with the system's GNU tar,
// the same tool that unpacks it on the hosts.

const temps: string[] = [];
function tempDir(label: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `cutover-artifact-${label}-`));
  temps.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of temps.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

const LONG = `${"very-long-directory-name-".repeat(3)}x/${"and-a-long-file-name-".repeat(3)}.txt`;

/** [path, content, executable]; a trailing "/" is an (empty) directory. */
const FILES: ReadonlyArray<readonly [string, string, boolean]> = [
  ["index.js", "console.log('hi');\n", false],
  ["bin/start", "#!/bin/sh\nexec node index.js\n", true],
  ["lib/util.js", "module.exports = 1;\n", false],
  ["lib/deep/nested/data.json", '{"a":1}\n', false],
  ["node_modules/dep/index.js", "module.exports = 'dep';\n", false],
  ["empty-dir/", "", false],
  ["@starts-with-at", "tar.c would read me as an archive name\n", false],
  ["ünïcödé.txt", "non-ascii name\n", false],
  [LONG, "a path longer than 100 bytes needs a pax header\n", false],
  [".git/HEAD", "ref: refs/heads/main\n", false],
  ["logs/app.log", "noise\n", false],
  ["tmp/cache.bin", "noise\n", false],
  ["config/secret.local.json", "{}\n", false],
  ["config/app.json", "{}\n", false],
];
const SYMLINKS: ReadonlyArray<readonly [string, string]> = [
  ["lib-link", "lib"],
  ["lib/deep/up-to-index.js", "../../index.js"],
];
const EXCLUDE = ["*.log", "tmp/", "config/*.local.json"];

interface Variant {
  reverse: boolean; // creation order, which changes readdir order on most file systems
  fileMode: number; // non-executable files; executables get fileMode | 0o111
  dirMode: number;
  mtime: Date;
  hardlinkSecondCopy?: boolean; // a tree where two equal files share an inode
}

function makeApp(root: string, v: Variant): string {
  const app = path.join(root, "app");
  fs.mkdirSync(app);
  const files = v.reverse ? [...FILES].reverse() : FILES;
  for (const [rel, content, exec] of files) {
    const abs = path.join(app, rel);
    if (rel.endsWith("/")) {
      fs.mkdirSync(abs, { recursive: true });
      continue;
    }
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    fs.writeFileSync(abs, content);
    fs.chmodSync(abs, exec ? v.fileMode | 0o111 : v.fileMode);
  }
  const copy = path.join(app, "lib", "util-copy.js");
  if (v.hardlinkSecondCopy) fs.linkSync(path.join(app, "lib", "util.js"), copy);
  else fs.copyFileSync(path.join(app, "lib", "util.js"), copy);
  for (const [rel, target] of v.reverse ? [...SYMLINKS].reverse() : SYMLINKS) fs.symlinkSync(target, path.join(app, rel));
  const walk = (dir: string): void => {
    for (const name of fs.readdirSync(dir)) {
      const abs = path.join(dir, name);
      const st = fs.lstatSync(abs);
      if (st.isDirectory()) walk(abs);
      if (!st.isSymbolicLink()) fs.utimesSync(abs, v.mtime, v.mtime);
    }
    fs.chmodSync(dir, v.dirMode);
  };
  walk(app);
  return app;
}

const STANDARD: Variant = { reverse: false, fileMode: 0o644, dirMode: 0o755, mtime: new Date("2024-05-01T10:00:00Z") };

function unpack(tarball: string): string {
  const out = tempDir("unpacked");
  execFileSync("tar", ["-xzf", tarball, "-C", out]);
  return out;
}

/** path -> "dir" | "link:<target>" | "<mode> <content>" for the whole tree. */
function describeTree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string, rel: string): void => {
    for (const name of fs.readdirSync(dir)) {
      const abs = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(abs);
      if (st.isSymbolicLink()) out[r] = `link:${fs.readlinkSync(abs)}`;
      else if (st.isDirectory()) {
        out[r] = `dir ${(st.mode & 0o777).toString(8)}`;
        walk(abs, r);
      } else out[r] = `${(st.mode & 0o777).toString(8)} ${fs.readFileSync(abs, "utf8")}`;
    }
  };
  walk(root, "");
  return out;
}

describe("buildArtifact", () => {
  it("gives byte-identical archives regardless of mtimes, modes/umask, creation order and hard links", async () => {
    const a = makeApp(tempDir("a"), STANDARD);
    const b = makeApp(tempDir("b"), {
      reverse: true,
      fileMode: 0o600, // as under umask 077
      dirMode: 0o700,
      mtime: new Date("2031-12-24T23:59:59Z"),
      hardlinkSecondCopy: true,
    });
    const c = makeApp(tempDir("c"), { ...STANDARD, fileMode: 0o664, dirMode: 0o775 }); // umask 002
    const [x, y, z] = await Promise.all(
      [a, b, c].map((sourceDir) => buildArtifact({ sourceDir, versionLabel: "v1.0.0", outDir: tempDir("out"), exclude: EXCLUDE })),
    );
    expect(y.sha256).toBe(x.sha256);
    expect(z.sha256).toBe(x.sha256);
    expect(fs.readFileSync(y.path).equals(fs.readFileSync(x.path))).toBe(true);
    expect(x.releaseId).toBe(`v1.0.0-${x.contentSha256.slice(0, 12)}`);
    expect(path.basename(x.path)).toBe(`${x.releaseId}.tar.gz`);
    expect(x.size).toBe(fs.statSync(x.path).size);
  });

  it("changes the hash when content, an exec bit or a symlink target changes", async () => {
    const base = await buildArtifact({ sourceDir: makeApp(tempDir("a"), STANDARD), versionLabel: "v1", outDir: tempDir("o") });
    const edits: Array<(app: string) => void> = [
      (app) => fs.appendFileSync(path.join(app, "index.js"), "//\n"),
      (app) => fs.chmodSync(path.join(app, "index.js"), 0o755),
      (app) => {
        fs.unlinkSync(path.join(app, "lib-link"));
        fs.symlinkSync("bin", path.join(app, "lib-link"));
      },
    ];
    for (const edit of edits) {
      const app = makeApp(tempDir("e"), STANDARD);
      edit(app);
      const other = await buildArtifact({ sourceDir: app, versionLabel: "v1", outDir: tempDir("o") });
      expect(other.sha256).not.toBe(base.sha256);
    }
  });

  it("writes a gzip header without timestamp or file name and normalised tar headers", async () => {
    const art = await buildArtifact({ sourceDir: makeApp(tempDir("a"), STANDARD), versionLabel: "v1", outDir: tempDir("o") });
    const head = fs.readFileSync(art.path).subarray(0, 10);
    expect([...head.subarray(0, 3)]).toEqual([0x1f, 0x8b, 8]); // gzip, deflate
    expect(head[3]).toBe(0); // FLG: no FNAME/FCOMMENT/FEXTRA
    expect(head.readUInt32LE(4)).toBe(0); // MTIME
    // The release id hashes the uncompressed tar, so zlib's bytes (and OS byte) never change it.
    const content = execFileSync("sh", ["-c", 'gzip -dc "$1" | sha256sum', "sh", art.path], { encoding: "utf8" }).split(" ")[0];
    expect(art.releaseId).toBe(`v1-${content.slice(0, 12)}`);

    const listing = execFileSync("tar", ["--numeric-owner", "--full-time", "-tvzf", art.path], { encoding: "utf8" });
    const lines = listing.trim().split("\n");
    for (const line of lines) expect(line).toMatch(/^\S+ 0\/0 /);
    for (const line of lines.filter((l) => l.startsWith("-"))) expect(line).toContain("2000-01-01 00:00:00");
    // Entries come out sorted bytewise, with parents before children.
    const names = execFileSync("tar", ["-tzf", art.path], { encoding: "utf8" })
      .trim()
      .split("\n")
      .map((n) => n.replace(/\/$/, ""));
    expect(names).toEqual([...names].sort((p, q) => Buffer.compare(Buffer.from(p), Buffer.from(q))));
  });

  it("unpacks with the system tar to the same content, keeping +x, symlinks and empty dirs", async () => {
    const app = makeApp(tempDir("a"), { ...STANDARD, fileMode: 0o600, dirMode: 0o700 });
    const art = await buildArtifact({ sourceDir: app, versionLabel: "v1", outDir: tempDir("o"), exclude: EXCLUDE });
    const tree = describeTree(unpack(art.path));

    expect(tree["bin/start"]).toBe("755 #!/bin/sh\nexec node index.js\n");
    expect(tree["index.js"]).toBe("644 console.log('hi');\n");
    expect(tree["lib-link"]).toBe("link:lib");
    expect(tree["lib/deep/up-to-index.js"]).toBe("link:../../index.js");
    expect(tree["lib/util-copy.js"]).toBe("644 module.exports = 1;\n");
    expect(tree["empty-dir"]).toBe("dir 755");
    expect(tree["lib/deep/nested"]).toBe("dir 755");
    expect(tree["@starts-with-at"]).toMatch(/^644 tar\.c would/);
    expect(tree["ünïcödé.txt"]).toBe("644 non-ascii name\n");
    expect(tree[LONG]).toMatch(/^644 a path longer/);
    expect(tree["node_modules/dep/index.js"]).toBeDefined(); // only what `exclude` names goes

    // Every file of the source (minus exclusions) is there with the same bytes.
    const source = describeTree(app);
    for (const [rel, desc] of Object.entries(source)) {
      if (/^(\.git|logs\/app\.log|tmp|config\/secret)/.test(rel)) continue;
      if (desc.startsWith("link:")) expect(tree[rel]).toBe(desc);
      else if (!desc.startsWith("dir")) expect(tree[rel]?.split(" ").slice(1).join(" ")).toBe(desc.split(" ").slice(1).join(" "));
    }
    expect(art.files).toBe(Object.values(tree).filter((d) => !d.startsWith("dir")).length);
  });

  it("leaves out .git and whatever `exclude` names", async () => {
    const app = makeApp(tempDir("a"), STANDARD);
    const art = await buildArtifact({ sourceDir: app, versionLabel: "v1", outDir: tempDir("o"), exclude: EXCLUDE });
    const tree = describeTree(unpack(art.path));
    expect(Object.keys(tree).filter((p) => /^(\.git|logs\/|tmp|config\/secret)/.test(p))).toEqual([]);
    expect(tree["tmp"]).toBeUndefined();
    expect(tree["logs"]).toBe("dir 755"); // only the *.log inside went
    expect(tree["config/app.json"]).toBe("644 {}\n");

    const all = describeTree(unpack((await buildArtifact({ sourceDir: app, versionLabel: "v1", outDir: tempDir("o") })).path));
    expect(all[".git/HEAD"]).toBeUndefined();
    expect(all["logs/app.log"]).toBeDefined();
  });

  it("reuses an existing archive with the same hash and leaves no temp files", async () => {
    const app = makeApp(tempDir("a"), STANDARD);
    const outDir = tempDir("o");
    const first = await buildArtifact({ sourceDir: app, versionLabel: "v1", outDir });
    const old = new Date("2020-01-01T00:00:00Z");
    fs.utimesSync(first.path, old, old);
    const second = await buildArtifact({ sourceDir: app, versionLabel: "v1", outDir });
    expect(second).toEqual(first);
    expect(fs.statSync(second.path).mtime.getTime()).toBe(old.getTime()); // not rewritten
    expect(fs.readdirSync(outDir)).toEqual([path.basename(first.path)]);
  });

  it("never packs its own output when outDir is inside sourceDir", async () => {
    const app = makeApp(tempDir("a"), STANDARD);
    const outDir = path.join(app, ".artifacts");
    const first = await buildArtifact({ sourceDir: app, versionLabel: "v1", outDir });
    const second = await buildArtifact({ sourceDir: app, versionLabel: "v1", outDir });
    expect(second.sha256).toBe(first.sha256);
    expect(execFileSync("tar", ["-tzf", first.path], { encoding: "utf8" })).not.toContain(".artifacts");
  });

  it.each(["", " v1", "v1 ", "a/b", "-v1", ".hidden", "v1:2", "ü", "x".repeat(41)])(
    "rejects versionLabel %j with the rule and an example",
    async (versionLabel) => {
      const app = makeApp(tempDir("a"), STANDARD);
      const err = await buildArtifact({ sourceDir: app, versionLabel, outDir: tempDir("o") }).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toContain("versionLabel");
      expect((err as Error).message).toContain(JSON.stringify(versionLabel));
      expect((err as Error).message).toMatch(/1-40 characters.*e\.g\. "v2\.3\.1"/);
    },
  );

  it.each(["v1", "2024-06-01", "v1.4.2_rc-1", "x".repeat(40)])("accepts versionLabel %j", async (versionLabel) => {
    const art = await buildArtifact({ sourceDir: makeApp(tempDir("a"), STANDARD), versionLabel, outDir: tempDir("o") });
    expect(art.releaseId).toMatch(new RegExp(`^${versionLabel}-[0-9a-f]{12}$`));
  });

  describe("symlinks that leave the app", () => {
    const cases: Array<[string, (app: string) => void, RegExp]> = [
      ["relative ..", (app) => fs.symlinkSync("../../etc/passwd", path.join(app, "lib", "evil")), /"lib\/evil" -> "\.\.\/\.\.\/etc\/passwd" points outside/],
      ["absolute", (app) => fs.symlinkSync(path.join(app, "index.js"), path.join(app, "abs")), /"abs" -> .* is absolute/],
      ["dangling, outside", (app) => fs.symlinkSync("../nowhere", path.join(app, "gone")), /"gone" .* points outside/],
      [
        "escaping through another symlink",
        (app) => {
          fs.symlinkSync(".", path.join(app, "self")); // stays inside
          fs.symlinkSync("self", path.join(app, "l")); // stays inside
          fs.symlinkSync("l/..", path.join(app, "sneaky")); // text says app/, kernel says app/..
        },
        /"sneaky" -> "l\/\.\." resolves outside the app directory through another symlink/,
      ],
    ];
    it.each(cases)("rejects a link that is %s, naming the link and the fix", async (_name, plant, message) => {
      const app = makeApp(tempDir("a"), STANDARD);
      plant(app);
      const err = (await buildArtifact({ sourceDir: app, versionLabel: "v1", outDir: tempDir("o") }).catch((e: Error) => e)) as Error;
      expect(err).toBeInstanceOf(Error);
      expect(err.message).toMatch(message);
      expect(err.message).toContain("`exclude`");
    });

    it("accepts an escaping link once it is excluded", async () => {
      const app = makeApp(tempDir("a"), STANDARD);
      fs.symlinkSync("../../etc/passwd", path.join(app, "lib", "evil"));
      await expect(buildArtifact({ sourceDir: app, versionLabel: "v1", outDir: tempDir("o"), exclude: ["lib/evil"] })).resolves.toBeDefined();
    });
  });

  it("explains missing, empty and unsupported inputs", async () => {
    const root = tempDir("bad");
    await expect(buildArtifact({ sourceDir: path.join(root, "nope"), versionLabel: "v1", outDir: tempDir("o") })).rejects.toThrow(
      /sourceDir ".*nope" does not exist/,
    );
    fs.mkdirSync(path.join(root, "empty"));
    fs.writeFileSync(path.join(root, "empty", "only.log"), "x");
    await expect(
      buildArtifact({ sourceDir: path.join(root, "empty"), versionLabel: "v1", outDir: tempDir("o"), exclude: ["*.log"] }),
    ).rejects.toThrow(/nothing to pack after exclusions/);
    await expect(buildArtifact({ sourceDir: path.join(root, "empty"), versionLabel: "v1", outDir: tempDir("o"), exclude: ["../x"] })).rejects.toThrow(
      /exclude\[0\] "\.\.\/x" is not a usable pattern/,
    );
    const app = makeApp(tempDir("a"), STANDARD);
    execFileSync("mkfifo", [path.join(app, "pipe")]);
    await expect(buildArtifact({ sourceDir: app, versionLabel: "v1", outDir: tempDir("o") })).rejects.toThrow(
      /"pipe" in the app directory is a named pipe.*add it to `exclude`/,
    );
  });
});

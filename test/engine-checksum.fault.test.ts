// The engine build verifies module checksums (issue 10, security): `scripts/engine.sh build`
// builds the Node.js language host (the smaller of the engine's two Go programs; the CLI goes
// through the same function) from a fresh module cache, with the checksum database
// unreachable, and one module tampered with in three ways: a file changed in the extracted
// cache, the same with the cache's recorded hash rewritten to match, and a module proxy serving
// a modified zip. Each must stop before anything is compiled; only the explicit insecure flag
// builds from a tampered module, loudly.
//
// Bounded: modules come from the engine's own module cache served as a file:// proxy (the
// network proxy when that cache is absent), and the Go build cache is shared, so the one real
// build compiles nothing new. The tampered module is small and compiled into the host.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { execFileSync, spawn, spawnSync } from "node:child_process";

const repoRoot = path.resolve(__dirname, "..");
const engineSh = path.join(repoRoot, "scripts", "engine.sh");
const PART = "language-nodejs";
const MOD = "github.com/blang/semver";
const VERSION = "v3.5.1+incompatible";
const TAMPERED_FILE = "semver.go";

function findGo(): string | undefined {
  for (const dir of [...(process.env.PATH ?? "").split(":"), "/usr/local/go/bin"]) {
    const candidate = path.join(dir, "go");
    if (dir && fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}
const go = findGo();
const cacheRoot = process.env.CUTOVER_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "cutover");
const realModCache = process.env.CUTOVER_GOMODCACHE ?? path.join(cacheRoot, "go", "mod");
const realBuildCache = process.env.CUTOVER_GOCACHE ?? path.join(cacheRoot, "go", "build");

/** Files below `dir`, as slash-separated relative paths. */
function filesBelow(dir: string, rel = ""): string[] {
  return fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const r = rel ? `${rel}/${e.name}` : e.name;
    return e.isDirectory() ? filesBelow(dir, r) : [r];
  });
}

/** Go's "h1:" hash of a file tree (golang.org/x/mod/sumdb/dirhash Hash1 over HashDir's names). */
function goDirHash(dir: string, prefix: string): string {
  const lines = filesBelow(dir)
    .map((n) => ({ n, full: `${prefix}/${n}` }))
    .sort((a, b) => (a.full < b.full ? -1 : a.full > b.full ? 1 : 0))
    .map(({ n, full }) => `${crypto.createHash("sha256").update(fs.readFileSync(path.join(dir, n))).digest("hex")}  ${full}\n`);
  return `h1:${crypto.createHash("sha256").update(lines.join("")).digest("base64")}`;
}

/** A module zip (stored, uncompressed) of `dir` under `prefix/`. */
function writeModuleZip(dir: string, prefix: string, out: string, patch: (name: string, data: Buffer) => Buffer): void {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  const files = filesBelow(dir).sort();
  for (const rel of files) {
    const name = Buffer.from(`${prefix}/${rel}`);
    const data = patch(rel, fs.readFileSync(path.join(dir, rel)));
    const crc = zlib.crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x21, 12); // 1980-01-01
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt16LE(0x21, 14);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(data.length, 20);
    cd.writeUInt32LE(data.length, 24);
    cd.writeUInt16LE(name.length, 28);
    cd.writeUInt32LE(offset, 42);
    locals.push(local, name, data);
    central.push(cd, name);
    offset += local.length + name.length + data.length;
  }
  const cdBuf = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(cdBuf.length, 12);
  end.writeUInt32LE(offset, 16);
  fs.writeFileSync(out, Buffer.concat([...locals, cdBuf, end]));
}

describe.skipIf(!go)("engine build: module checksums (needs a Go toolchain)", () => {
  let tmp: string;
  let modCache: string;
  let engineCache: string;
  let sourceProxy: string;
  let baseEnv: NodeJS.ProcessEnv;
  const modDir = () => path.join(modCache, `${MOD}@${VERSION}`);
  const downloadDir = () => path.join(modCache, "cache", "download", MOD, "@v");
  const binary = () => {
    const dirs = fs.existsSync(path.join(engineCache, "engine")) ? fs.readdirSync(path.join(engineCache, "engine")) : [];
    return dirs.map((d) => path.join(engineCache, "engine", d, "libexec", "pulumi-language-nodejs")).find((p) => fs.existsSync(p));
  };

  /** Runs engine.sh (asynchronously: a long synchronous child would stall the test worker). */
  const engine = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const child = spawn("bash", [engineSh, ...args], { env: { ...baseEnv, ...env }, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      child.stderr.on("data", (d: Buffer) => (out += d.toString()));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, out }));
    });

  /** Puts the pristine module into the temp cache (extracted dir, zip, recorded hash). */
  const reseed = () => {
    for (const p of [modDir(), downloadDir()]) {
      if (fs.existsSync(p)) {
        execFileSync("chmod", ["-R", "u+w", p]);
        fs.rmSync(p, { recursive: true, force: true });
      }
    }
    execFileSync(go!, ["mod", "download", `${MOD}@${VERSION}`], {
      cwd: tmp,
      // Test set-up only: the engine then checks this copy against its committed go.sum.
      env: { ...baseEnv, GOENV: "off", GOFLAGS: "", GOSUMDB: "off", GOMODCACHE: modCache, GOPROXY: sourceProxy },
    });
  };
  const removeBuilt = () => {
    const b = binary();
    if (b) fs.rmSync(b);
  };
  const appendToCachedFile = () => {
    const file = path.join(modDir(), TAMPERED_FILE);
    fs.chmodSync(modDir(), 0o755);
    fs.chmodSync(file, 0o644);
    fs.appendFileSync(file, "\n// tampered\n");
  };

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-engine-checksum-"));
    modCache = path.join(tmp, "mod");
    engineCache = path.join(tmp, "cache");
    const local = path.join(realModCache, "cache", "download");
    sourceProxy = fs.existsSync(local) ? `file://${local}` : execFileSync(go!, ["env", "GOPROXY"], { encoding: "utf8" }).trim();
    baseEnv = {
      ...process.env,
      PATH: `${path.dirname(go!)}:${process.env.PATH}`,
      CUTOVER_CACHE: engineCache,
      CUTOVER_GOMODCACHE: modCache,
      CUTOVER_GOCACHE: fs.existsSync(realBuildCache) ? realBuildCache : path.join(tmp, "build"),
      GOPROXY: sourceProxy,
      // The checksum database is unreachable: every https request goes to a closed port. A
      // file:// proxy does not serve it, so any lookup would fail the build.
      HTTPS_PROXY: "http://127.0.0.1:9",
      https_proxy: "http://127.0.0.1:9",
      NO_PROXY: "",
      no_proxy: "",
    };
    delete baseEnv.CUTOVER_ENGINE_INSECURE_NO_CHECKSUMS;
    delete baseEnv.GOFLAGS;
    reseed();
  }, 240_000);

  afterAll(() => {
    if (!tmp) return;
    spawnSync("chmod", ["-R", "u+w", tmp]);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("builds from a clean module cache with only the committed go.sum (checksum database unreachable)", async () => {
    const r = await engine(["build", PART]);
    expect(r.out).toContain("each checked against");
    expect(r.code, r.out).toBe(0);
    expect(binary()).toBeDefined();
  }, 240_000);

  it("a file changed in the module cache fails `go mod verify` before anything is compiled", async () => {
    removeBuilt();
    appendToCachedFile();
    const r = await engine(["build", PART]);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(new RegExp(`${MOD} ${VERSION.replace("+", "\\+")}: dir has been modified`));
    expect(r.out).toContain("CHECKSUM VERIFICATION FAILED");
    expect(r.out).not.toContain("compiling");
    expect(binary()).toBeUndefined();
    // The standalone check says the same.
    const v = await engine(["verify"]);
    expect(v.code).not.toBe(0);
    expect(v.out).toContain("dir has been modified");
  }, 240_000);

  it("a changed file whose recorded hash was rewritten to match is refused by the committed go.sum", async () => {
    reseed();
    removeBuilt();
    appendToCachedFile();
    // What an attacker with write access to the cache would do to pass `go mod verify`.
    fs.rmSync(path.join(downloadDir(), `${VERSION}.zip`));
    const ziphash = path.join(downloadDir(), `${VERSION}.ziphash`);
    fs.chmodSync(ziphash, 0o644);
    fs.writeFileSync(ziphash, goDirHash(modDir(), `${MOD}@${VERSION}`));
    const r = await engine(["build", PART]);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/checksum mismatch/);
    expect(r.out).toMatch(/go\.sum: +h1:/);
    expect(r.out).not.toContain("compiling");
    expect(binary()).toBeUndefined();
  }, 240_000);

  it("a module proxy serving a modified zip is refused by the committed go.sum", async () => {
    reseed();
    removeBuilt();
    // A proxy that serves a modified copy of the one module and nothing else (other modules
    // fall through to the real source), and a module cache without that module.
    const evil = path.join(tmp, "evil-proxy");
    const evilDir = path.join(evil, MOD, "@v");
    fs.mkdirSync(evilDir, { recursive: true });
    for (const ext of ["info", "mod"]) fs.copyFileSync(path.join(downloadDir(), `${VERSION}.${ext}`), path.join(evilDir, `${VERSION}.${ext}`));
    fs.writeFileSync(path.join(evilDir, "list"), `${VERSION}\n`);
    writeModuleZip(modDir(), `${MOD}@${VERSION}`, path.join(evilDir, `${VERSION}.zip`), (name, data) =>
      name === TAMPERED_FILE ? Buffer.concat([data, Buffer.from("\n// tampered\n")]) : data,
    );
    for (const p of [modDir(), downloadDir()]) {
      execFileSync("chmod", ["-R", "u+w", p]);
      fs.rmSync(p, { recursive: true, force: true });
    }
    const r = await engine(["build", PART], { GOPROXY: `file://${evil},${sourceProxy}` });
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(new RegExp(`verifying ${MOD}@${VERSION.replace("+", "\\+")}: checksum mismatch`));
    expect(r.out).not.toContain("compiling");
    expect(binary()).toBeUndefined();
  }, 240_000);

  it("only CUTOVER_ENGINE_INSECURE_NO_CHECKSUMS=1 builds from a tampered cache, loudly, and the next run rebuilds", async () => {
    expect((await engine(["build", PART], { CUTOVER_ENGINE_INSECURE_NO_CHECKSUMS: "yes" })).out).toContain("must be 1 or unset");
    reseed();
    removeBuilt();
    appendToCachedFile();
    const r = await engine(["build", PART], { CUTOVER_ENGINE_INSECURE_NO_CHECKSUMS: "1" });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain("MODULE CHECKSUMS ARE NOT VERIFIED");
    expect(r.out).not.toContain("go mod verify");
    // Without the flag, that binary is not trusted: rebuilt, and the tampered cache refused.
    const again = await engine(["build", PART]);
    expect(again.out).toContain("was not built from");
    expect(again.out).toContain("dir has been modified");
    expect(again.code).not.toBe(0);
  }, 240_000);
});

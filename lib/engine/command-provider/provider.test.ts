// The provider's decisions that do not need the engine: what counts as a change, what
// forces a replace, and which outputs stay secret.
import { describe, expect, it } from "vitest";
import { CommandProvider, typeOf } from "./provider";
import { ASSET, secret, unwrap } from "./secrets";

const SIG = "4dabf18193072939515e22adb298388d";
const urn = (type: string, name = "x") => `urn:pulumi:dev::proj::cutover:deploy:Deployment$${type}::${name}`;
const LOCAL = urn("command:local:Command");
const COPY = urn("command:remote:CopyToRemote");

describe("command provider", () => {
  const p = new CommandProvider();

  it("reads the resource type from a URN with parent types", () => {
    expect(typeOf(LOCAL)).toBe("command:local:Command");
  });

  it("sees no change when only outputs differ, a change when a script differs", async () => {
    const olds = { create: "echo a", stdout: "a", stderr: "" };
    expect((await p.diff("id", LOCAL, olds, { create: "echo a" })).changes).toBe(false);
    expect(await p.diff("id", LOCAL, olds, { create: "echo b" })).toEqual({ changes: true, replaces: [] });
  });

  it("replaces when triggers change", async () => {
    expect((await p.diff("id", LOCAL, { create: "x", triggers: ["1"] }, { create: "x", triggers: ["2"] })).replaces).toEqual(["triggers"]);
  });

  it("compares a secret input by its plaintext", async () => {
    expect((await p.diff("id", LOCAL, { create: secret("echo s") as never }, { create: secret("echo s") as never })).changes).toBe(false);
  });

  it("diffs copied assets by the engine's content hash, not by path presence", async () => {
    const olds = { source: { [SIG]: ASSET, path: "/a.tgz", hash: "h1" }, remotePath: "/r" };
    expect((await p.diff("id", COPY, olds, { source: { [SIG]: ASSET, hash: "h1" }, remotePath: "/r" })).changes).toBe(false);
    expect((await p.diff("id", COPY, olds, { source: { [SIG]: ASSET, hash: "h2" }, remotePath: "/r" })).changes).toBe(true);
  });

  it("runs local commands and keeps stdout secret when the script was secret", async () => {
    const plain = await p.create(LOCAL, { create: "echo hi" });
    expect(plain.outs.stdout).toBe("hi");
    const hidden = await p.create(LOCAL, { create: secret("echo hi") as never });
    expect(unwrap(hidden.outs).secretKeys).toEqual(new Set(["create", "stdout", "stderr"]));
  });

  it("fails a local command with its exit code and output", async () => {
    await expect(p.create(LOCAL, { create: "echo out; echo err >&2; exit 3" })).rejects.toThrow(/x: create command failed with exit code 3\nstdout:\nout\nstderr:\nerr/);
  });
});

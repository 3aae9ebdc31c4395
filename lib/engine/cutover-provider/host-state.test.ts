import { describe, expect, it } from "vitest";
import { HostStateProvider } from "./host-state";
import { unwrap } from "../command-provider/secrets";

const SECRET_SIG = { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270" };
const inputs = (release: string) => ({ host: "web1", release, root: "/srv/app", connection: { ...SECRET_SIG, value: { host: "10.0.0.5", privateKey: "PRIVATE" } } });

describe("the cutover provider's HostState", () => {
  // What `current` names on the host, as a refresh would find it.
  let onHost = "";
  const provider = new HostStateProvider("0.1.0", async () => onHost);

  it("records the release it was given as served, generation 0, the connection kept secret", async () => {
    const { id, outs } = await provider.create("urn", inputs("2-b"));
    expect(id).toBe("web1");
    expect(unwrap(outs!).plain).toMatchObject({ served: "2-b", generation: 0, release: "2-b" });
    expect(unwrap(outs!).secretKeys).toEqual(new Set(["connection"]));
  });

  it("a refresh records what the host serves and keeps the inputs; only then does diff see a change", async () => {
    const { outs } = await provider.create("urn", inputs("2-b"));
    expect((await provider.diff("web1", "urn", outs!, inputs("2-b"))).changes).toBe(false);
    onHost = "1-a";
    const read = await provider.read("web1", "urn", outs!);
    expect(unwrap(read.props).plain).toMatchObject({ served: "1-a", release: "2-b", generation: 0 });
    expect(unwrap(read.inputs).plain).toEqual(unwrap(inputs("2-b")).plain);
    expect(unwrap(read.props).secretKeys).toEqual(new Set(["connection"]));
    expect((await provider.diff("web1", "urn", read.props, inputs("2-b"))).changes).toBe(true);
  });

  it("an update after drift raises the generation (the host's steps run again); a new release alone does not", async () => {
    const { outs } = await provider.create("urn", inputs("2-b"));
    const next = await provider.update("web1", "urn", outs!, inputs("3-c"));
    expect(unwrap(next.outs).plain).toMatchObject({ served: "3-c", generation: 0 });
    onHost = "";
    const wiped = await provider.read("web1", "urn", next.outs);
    const back = await provider.update("web1", "urn", wiped.props, inputs("3-c"));
    expect(unwrap(back.outs).plain).toMatchObject({ served: "3-c", generation: 1 });
    expect((await provider.diff("web1", "urn", back.outs, inputs("3-c"))).changes).toBe(false);
  });
});

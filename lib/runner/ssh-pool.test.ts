import { describe, expect, it } from "vitest";
import { PassThrough } from "node:stream";
import type { ClientChannel } from "ssh2";
import { collect, watchExit } from "./ssh-pool";

// The order ssh2 can deliver a command that ends at once: the exec's success, its output, its
// exit status and the close, all parsed from one read, before the caller's `await` resumes.
// A PassThrough stands in for the channel: a stream that buffers output until read, with
// "exit" as a plain event, as ssh2's channel has.
function finishedChannel(watch: boolean): ClientChannel {
  const channel = Object.assign(new PassThrough(), { stderr: new PassThrough() });
  if (watch) watchExit(channel as unknown as ClientChannel);
  channel.write("migration for 1-abc already ran\n");
  channel.emit("exit", 0);
  channel.end();
  channel.stderr.end();
  return channel as unknown as ClientChannel;
}

describe("collect", () => {
  it("keeps an exit status delivered before it listened, when the exec callback watched for it", async () => {
    const r = await collect(finishedChannel(true));
    expect(r).toEqual({ code: 0, stdout: "migration for 1-abc already ran\n", stderr: "", abnormal: undefined });
  });

  it("reports a channel that closed without an exit status as a dropped command", async () => {
    // What every quick command looked like before the exec callback watched for the status.
    const r = await collect(finishedChannel(false));
    expect(r.code).toBe(255);
    expect(r.abnormal).toBe("the connection closed before the command finished");
    expect(r.stdout).toBe("migration for 1-abc already ran\n");
  });
});

// The `command` resource provider (command:local:Command, command:remote:Command,
// command:remote:CopyToRemote), implementing the behaviour of pulumi-command 1.2.1 that
// @pulumi/command's SDK relies on. It exists because that provider's Go module is not served
// by the module proxy this project can reach (see README "The engine").
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as util from "node:util";
import type * as provider from "@pulumi/pulumi/provider";
import { runProcess, trimNewline, RunResult } from "./run";
import { Connection, connectionError, copyToRemote, describe, runRemote } from "./ssh";
import { Props, isAssetOrArchive, unwrap, wrapKeys } from "./secrets";

export const PROVIDER_VERSION = "1.2.1";

type Op = "create" | "update" | "delete";

const LOCAL = "command:local:Command";
const REMOTE = "command:remote:Command";
const COPY = "command:remote:CopyToRemote";
const INPUTS: Record<string, string[]> = {
  [LOCAL]: ["create", "update", "delete", "environment", "interpreter", "dir", "triggers", "stdin", "logging", "addPreviousOutputInEnv", "assetPaths", "archivePaths"],
  [REMOTE]: ["connection", "create", "update", "delete", "environment", "triggers", "stdin", "logging", "addPreviousOutputInEnv"],
  [COPY]: ["connection", "source", "remotePath", "triggers"],
};

export function typeOf(urn: string): string {
  const qualified = urn.split("::")[2] ?? "";
  return qualified.split("$").pop() ?? "";
}

const nameOf = (urn: string) => urn.split("::").pop() ?? urn;

function inputsOf(type: string, props: Props): Props {
  const keys = INPUTS[type];
  if (!keys) throw new Error(`unknown resource type ${type}`);
  return Object.fromEntries(keys.filter((k) => props[k] !== undefined).map((k) => [k, props[k]]));
}

/**
 * What identifies a copy's source for diffing: the content hash the engine computes for
 * assets (in a diff the engine may send the hash alone, without the path); the path or text
 * when there is no hash.
 */
function comparable(props: Props): Props {
  const source = props.source;
  if (!isAssetOrArchive(source)) return props;
  return { ...props, source: source.hash !== undefined ? { hash: source.hash } : { path: source.path, text: source.text } };
}

const LOST_OR_255 = " (the command exited 255, or the connection to the host was lost while it ran)";

function failure(urn: string, op: Op, what: string, r: RunResult, note = ""): Error {
  const tail = (s: string) => s.trim().split("\n").slice(-20).join("\n");
  return new Error(
    `${nameOf(urn)}: ${op} command${what ? ` ${what}` : ""} failed with exit code ${r.code}${note}` +
      (r.stdout.trim() ? `\nstdout:\n${tail(r.stdout)}` : "") +
      (r.stderr.trim() ? `\nstderr:\n${tail(r.stderr)}` : ""),
  );
}

async function runLocal(urn: string, op: Op, script: string, inputs: Props, previous?: Props): Promise<RunResult> {
  const interpreter = (inputs.interpreter as string[] | undefined) ?? ["/bin/sh", "-c"];
  const env: NodeJS.ProcessEnv = { ...process.env, ...((inputs.environment as Record<string, string>) ?? {}) };
  if (previous && inputs.addPreviousOutputInEnv !== false) {
    env.PULUMI_COMMAND_STDOUT = String(previous.stdout ?? "");
    env.PULUMI_COMMAND_STDERR = String(previous.stderr ?? "");
  }
  const r = await runProcess(interpreter[0], [...interpreter.slice(1), script], {
    env,
    cwd: inputs.dir as string | undefined,
    stdin: inputs.stdin as string | undefined,
  });
  if (r.code !== 0) throw failure(urn, op, "", r);
  return r;
}

async function runOnHost(urn: string, op: Op, script: string, inputs: Props): Promise<RunResult> {
  const c = inputs.connection as Connection;
  const r = await runRemote(c, script, inputs.stdin as string | undefined, (inputs.environment as Record<string, string>) ?? {});
  if (!r.reached) throw connectionError(c, r);
  // The connection was up: exit 255 is the command's own status (or the connection dropped
  // while it ran), never "cannot reach".
  if (r.code !== 0) throw failure(urn, op, `on ${describe(c)}`, r, r.code === 255 ? LOST_OR_255 : "");
  return r;
}

function sourceFile(source: Record<string, unknown>): { path: string; recursive: boolean } {
  if (typeof source.path === "string") return { path: source.path, recursive: fs.statSync(source.path).isDirectory() };
  throw new Error("CopyToRemote: only file and directory sources (FileAsset, FileArchive) are supported");
}

async function apply(urn: string, op: Op, inputs: Props, previous?: Props): Promise<Props> {
  const type = typeOf(urn);
  if (type === COPY) {
    const c = inputs.connection as Connection;
    const { path, recursive } = sourceFile(inputs.source as Record<string, unknown>);
    const r = await copyToRemote(c, path, String(inputs.remotePath), recursive);
    if (!r.reached) throw connectionError(c, r);
    if (r.code !== 0) throw failure(urn, op, `copying ${path} to ${describe(c)}:${inputs.remotePath}`, r);
    return { ...inputs };
  }
  // update falls back to create, as in pulumi-command.
  const script = (op === "update" ? (inputs.update ?? inputs.create) : inputs[op]) as string | undefined;
  if (!script) return { ...inputs, stdout: previous?.stdout ?? "", stderr: previous?.stderr ?? "" };
  const r = type === LOCAL ? await runLocal(urn, op, script, inputs, previous) : await runOnHost(urn, op, script, inputs);
  return { ...inputs, stdout: trimNewline(r.stdout), stderr: trimNewline(r.stderr) };
}

/** Secret-ness of outputs: the connection always; others when their input was secret. */
function protect(type: string, outs: Props, secretKeys: Set<string>): Props {
  const keys = new Set(secretKeys);
  if (outs.connection !== undefined) keys.add("connection");
  const scriptSecret = ["create", "update", "delete", "environment", "stdin"].some((k) => secretKeys.has(k));
  if (type !== COPY && scriptSecret) ["stdout", "stderr"].forEach((k) => keys.add(k));
  return wrapKeys(outs, keys);
}

export class CommandProvider implements provider.Provider {
  readonly version = PROVIDER_VERSION;

  async check(_urn: string, _olds: Props, news: Props): Promise<provider.CheckResult> {
    return { inputs: news };
  }

  async diff(_id: string, urn: string, olds: Props, news: Props): Promise<provider.DiffResult> {
    const type = typeOf(urn);
    const before = comparable(inputsOf(type, unwrap(olds).plain));
    const after = comparable(inputsOf(type, unwrap(news).plain));
    const changed = INPUTS[type].filter((k) => !util.isDeepStrictEqual(before[k], after[k]));
    return { changes: changed.length > 0, replaces: changed.includes("triggers") ? ["triggers"] : [] };
  }

  async create(urn: string, inputs: Props): Promise<provider.CreateResult> {
    const type = typeOf(urn);
    const { plain, secretKeys } = unwrap(inputs);
    const outs = await apply(urn, "create", inputsOf(type, plain));
    return { id: crypto.randomBytes(8).toString("hex"), outs: protect(type, outs, secretKeys) };
  }

  async update(_id: string, urn: string, olds: Props, news: Props): Promise<provider.UpdateResult> {
    const type = typeOf(urn);
    const { plain, secretKeys } = unwrap(news);
    const outs = await apply(urn, "update", inputsOf(type, plain), unwrap(olds).plain);
    return { outs: protect(type, outs, secretKeys) };
  }

  async delete(_id: string, urn: string, props: Props): Promise<void> {
    const type = typeOf(urn);
    if (type === COPY) return; // like pulumi-command: copied files stay on the host
    const plain = unwrap(props).plain;
    if (plain.delete) await apply(urn, "delete", inputsOf(type, plain), plain);
  }

  async read(id: string, _urn: string, props: Props): Promise<provider.ReadResult> {
    return { id, props };
  }
}


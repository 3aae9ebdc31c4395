// The `cutover` resource provider's one resource, `cutover:index:HostState`: what one host
// serves, as Pulumi's state records it, read back from the host by `pulumi refresh` (and
// `pulumi preview --refresh`, `pulumi up --refresh`).
//
// Why a provider of Cutover's own: the deploy steps are `command:local:Command`s, whose
// provider (the genuine pulumi-command too) has no read: a refresh can never see a host that
// someone else switched. A dynamic provider would read, but Pulumi serializes its code into
// every run (loading the closure serializer costs ~0.7 s of each up and preview). Here the
// engine starts this plugin like any provider, and:
// - create/update record `served` = the release the deploy steps bring the host to;
// - read (refresh only: an unchanged `up` runs nothing on any host) asks the host where
//   `current` points and records that as `served`, leaving the inputs alone;
// - diff sees a host whose `served` is not its `release` as changing, and update then bumps
//   `generation`: the host's prepare and cycle steps carry it in their command line, so the
//   engine runs them again — the host is re-prepared (a wiped root) and cycled back.
import type * as provider from "@pulumi/pulumi/provider";
import * as util from "node:util";
import { Connection, connectionError, describe, runRemote } from "../command-provider/ssh";
import { Props, unwrap, wrapKeys } from "../command-provider/secrets";
import { script, sh } from "../../scripts/quote";
import { layout } from "../../scripts/layout";

export const HOST_STATE = "cutover:index:HostState";
const INPUTS = ["host", "release", "root", "connection"];

const inputsOf = (props: Props) => Object.fromEntries(INPUTS.map((k) => [k, props[k]]));

/** What a host whose `current` names a release without its prepared directory serves. */
export const NOT_PREPARED = " (release directory not prepared)";

/**
 * Where `current` points on the host: a release id; "" when there is none (a wiped root); the id
 * and NOT_PREPARED when its release directory is gone or was never finished (emptied by hand).
 */
export async function servedRelease(c: Connection, root: string, host: string): Promise<string> {
  const l = layout(root);
  const lines = [
    sh`releases=${l.releasesDir}`,
    sh`cur=$(readlink -- ${l.current}) || exit 0`,
    'id="${cur##*/}"',
    `if [ -f "$releases/$id/.prepared" ]; then printf '%s\\n' "$id"; else printf '%s%s\\n' "$id" ${sh`${NOT_PREPARED}`}; fi`,
  ];
  const r = await runRemote(c, script(lines), undefined, {});
  if (!r.reached) throw connectionError(c, r);
  if (r.code !== 0) throw new Error(`cutover: reading ${host}'s current release on ${describe(c)} failed (exit ${r.code}): ${r.stderr.trim()}`);
  return r.stdout.trim();
}

export class HostStateProvider implements provider.Provider {
  constructor(
    readonly version: string,
    private readonly observe: typeof servedRelease = servedRelease,
  ) {}

  async check(_urn: string, _olds: Props, news: Props): Promise<provider.CheckResult> {
    return { inputs: news };
  }

  async diff(_id: string, _urn: string, olds: Props, news: Props): Promise<provider.DiffResult> {
    const before = unwrap(olds).plain;
    const after = unwrap(news).plain;
    const changed = INPUTS.filter((k) => !util.isDeepStrictEqual(before[k], after[k]));
    const drifted = before.served !== before.release;
    return { changes: changed.length > 0 || drifted, replaces: [], deleteBeforeReplace: false };
  }

  async create(_urn: string, inputs: Props): Promise<provider.CreateResult> {
    const { plain } = unwrap(inputs);
    return { id: String(plain.host), outs: this.outs(plain, 0) };
  }

  async update(_id: string, _urn: string, olds: Props, news: Props): Promise<provider.UpdateResult> {
    const before = unwrap(olds).plain;
    const generation = Number(before.generation ?? 0) + (before.served !== before.release ? 1 : 0);
    return { outs: this.outs(unwrap(news).plain, generation) };
  }

  async read(id: string, _urn: string, props: Props): Promise<provider.ReadResult> {
    const plain = unwrap(props).plain;
    const served = await this.observe(plain.connection as Connection, String(plain.root), String(plain.host));
    return { id, props: wrapKeys({ ...plain, served }, ["connection"]), inputs: wrapKeys(inputsOf(plain), ["connection"]) };
  }

  async delete(): Promise<void> {}

  private outs(inputs: Props, generation: number): Props {
    return wrapKeys({ ...inputsOf(inputs), served: inputs.release, generation }, ["connection"]);
  }
}

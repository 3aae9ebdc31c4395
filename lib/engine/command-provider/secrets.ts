// Pulumi's wire encoding of secrets, assets and unknowns inside provider properties.
// The provider accepts secrets (it needs the plaintext key to dial SSH) and must hand
// secret-ness back on its outputs, or a private key would land in state in clear text.

const SIG = "4dabf18193072939515e22adb298388d";
const SECRET = "1b47061264138c4ac30d75fd1eb44270";
export const ASSET = "c44067f5952c0a294b673a41bacd8c17";
export const ARCHIVE = "0def7320c3a5731c473e5ecbe6d01bc7";
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export type Props = Record<string, unknown>;

function isSecret(v: unknown): v is { value: unknown } {
  return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SIG] === SECRET;
}

/** Plain values, and the set of top-level keys that held a secret anywhere inside. */
export function unwrap(props: Props): { plain: Props; secretKeys: Set<string> } {
  const secretKeys = new Set<string>();
  const strip = (v: unknown, key: string): unknown => {
    if (isSecret(v)) {
      secretKeys.add(key);
      return strip(v.value, key);
    }
    if (Array.isArray(v)) return v.map((x) => strip(x, key));
    if (typeof v === "object" && v !== null) {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, strip(x, key)]));
    }
    return v;
  };
  const plain = Object.fromEntries(Object.entries(props ?? {}).map(([k, v]) => [k, strip(v, k)]));
  return { plain, secretKeys };
}

export function secret(value: unknown): unknown {
  return { [SIG]: SECRET, value };
}

export function wrapKeys(outs: Props, keys: Iterable<string>): Props {
  const result = { ...outs };
  for (const k of keys) if (k in result && result[k] !== undefined) result[k] = secret(result[k]);
  return result;
}

export function containsUnknown(v: unknown): boolean {
  if (v === UNKNOWN) return true;
  if (Array.isArray(v)) return v.some(containsUnknown);
  if (typeof v === "object" && v !== null) return Object.values(v).some(containsUnknown);
  return false;
}

export function isAssetOrArchive(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null) return false;
  const sig = (v as Record<string, unknown>)[SIG];
  return sig === ASSET || sig === ARCHIVE;
}

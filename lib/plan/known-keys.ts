/**
 * Refuses keys a config object does not know. A misspelt key (`rollout.batchsize`,
 * `keep_releases`) would otherwise be ignored without a word and the deploy would run with the
 * default the user meant to change; the refusal names the key as written and the nearest key
 * that exists.
 */
import { CutoverInputError } from "./validate";

/**
 * What keys a config value may have. `"any"`: any value (its keys are not checked).
 * `{ keys }`: an object with exactly these keys, each checked against its own shape.
 * `{ each }`: a list, or an object whose keys the user chooses (roles, variables): every item
 * or value is checked against `each`. A value that is not an object or a list is not checked
 * here: the argument's own validator refuses a wrong type with its own fix.
 */
export type KeyShape = "any" | { keys: Record<string, KeyShape> } | { each: KeyShape };

/** A key that is not known; the message says which key to use instead. */
export class UnknownKeyError extends CutoverInputError {
  constructor(key: string, fix: string) {
    super(key, undefined, fix, `: unknown key; ${fix}`);
  }
}

/**
 * Throws an UnknownKeyError for the first unknown key of `value`, depth first. `name` is how
 * the user wrote the value itself (`cutover:app`): the error names `cutover:app.rollout.batchsize`
 * and suggests `rollout.batchSize`, the path as written inside that value.
 */
export function refuseUnknownKeys(value: unknown, shape: KeyShape, name: string): void {
  walk(value, shape, name, "");
}

function walk(value: unknown, shape: KeyShape, name: string, inner: string): void {
  if (shape === "any" || value === null || typeof value !== "object") return;
  if ("each" in shape) {
    const entries = Array.isArray(value) ? value.map((v, i) => [`[${i}]`, v] as const) : Object.entries(value).map(([k, v]) => [`.${k}`, v] as const);
    for (const [step, v] of entries) walk(v, shape.each, name, `${inner}${step}`);
    return;
  }
  if (Array.isArray(value)) return;
  const known = Object.keys(shape.keys);
  for (const [key, v] of Object.entries(value)) {
    const at = inner === "" ? key : `${inner}.${key}`;
    if (!Object.prototype.hasOwnProperty.call(shape.keys, key)) {
      const near = nearestKey(key, known);
      const fix = near !== undefined ? `did you mean ${inner === "" ? near : `${inner}.${near}`}?` : `use one of ${known.join(", ")}`;
      throw new UnknownKeyError(`${name}.${at}`, fix);
    }
    walk(v, shape.keys[key], name, at);
  }
}

/**
 * The known key a misspelling most likely meant, or undefined when none is close. Case and
 * `_`/`-` separators count for nothing (`keep_releases`, `batchsize` are the camelCase keys
 * mistyped); beyond that at most a third of the key's letters may differ.
 */
export function nearestKey(key: string, known: readonly string[]): string | undefined {
  const fold = (k: string) => k.toLowerCase().replace(/[_-]/g, "");
  let best: { key: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(fold(key), fold(candidate));
    if (best === undefined || distance < best.distance) best = { key: candidate, distance };
  }
  if (best === undefined) return undefined;
  return best.distance <= Math.max(1, Math.floor(fold(key).length / 3)) ? best.key : undefined;
}

/** Levenshtein distance, with a swap of two neighbouring letters counting as one edit. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

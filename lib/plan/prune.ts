/**
 * Which release directories to delete on a host. The on-host prune script applies the same
 * rules (lib/scripts/prune.ts; a test runs both on the same layouts and compares).
 *
 * Rules:
 * - Only names that are Cutover release ids are considered; anything else in releases/ is
 *   someone else's and is never deleted.
 * - current and previous are never deleted (previous is the instant rollback target).
 * - A directory without the `.prepared` marker is a half-prepared leftover of a failed
 *   prepare: it is deleted unless it is current or previous, and never counts as good.
 * - Of the prepared releases, `keep` stay on disk in total, current and previous included;
 *   the remaining slots go to the most recently activated ones.
 * So after a prune at most `keep` release directories remain (keep ≥ 2 leaves room for
 * current and previous), which bounds disk use.
 */
import { isReleaseId } from "./release-id";
import { CutoverInputError } from "./validate";

export interface PruneInput {
  /** Directory names present in releases/, oldest → newest by activation. */
  releases: readonly string[];
  /** The release `current` points to, if any. */
  current?: string;
  /** The release recorded as previous (rollback target), if any. */
  previous?: string;
  /** How many releases to keep in total, current and previous included; ≥ 2. */
  keep: number;
  /** Names whose directory has the `.prepared` marker. */
  prepared: ReadonlySet<string> | readonly string[];
}

export function validateKeepReleases(keep: unknown, argument = "keepReleases"): number {
  if (typeof keep !== "number" || !Number.isInteger(keep) || keep < 2) {
    throw new CutoverInputError(
      argument,
      keep,
      "use a whole number ≥ 2: the current release and the previous one (the rollback target) are always kept",
    );
  }
  return keep;
}

/** Names to delete, in the order given (oldest first). */
export function pruneCandidates(input: PruneInput): string[] {
  const keep = validateKeepReleases(input.keep);
  const prepared = new Set(input.prepared);
  const ids = [...new Set(input.releases.filter(isReleaseId))];
  const present = new Set(ids);

  const kept = new Set<string>();
  for (const name of [input.current, input.previous]) {
    if (name !== undefined && present.has(name)) kept.add(name);
  }
  let slots = keep - kept.size;
  for (let i = ids.length - 1; i >= 0 && slots > 0; i--) {
    const name = ids[i]!;
    if (!kept.has(name) && prepared.has(name)) {
      kept.add(name);
      slots--;
    }
  }
  return ids.filter((name) => !kept.has(name));
}

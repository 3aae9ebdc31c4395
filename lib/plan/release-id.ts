/**
 * Release ids name the directories under `<root>/releases`. An id is `<version>-<sha12>`:
 * the user's version label (readable in listings and history) plus the first 12 hex digits of
 * the artifact's SHA-256 (so two different builds labelled the same never share a directory).
 *
 * The charset is deliberately narrow: ids are written unescaped into JSON history lines and
 * matched by shell `case` patterns on the host, and prune only ever deletes names that look
 * like ids, so foreign directories are never touched. Ids carry no ordering: the host keeps
 * activation order itself (markers and history.log), so never sort ids lexically.
 */
import { CutoverInputError, validateSha256 } from "./validate";

/** Letters/digits first (never `-x`, which a command could read as an option, nor `.hidden`). */
const LABEL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$/;
const RELEASE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,39}-[0-9a-f]{12}$/;

/** Length of the digest prefix in an id. */
export const SHA_PREFIX_LENGTH = 12;

/** Checks a version label (`v2.3.1`, `2026-11-22_1`) and returns it unchanged. */
export function validateVersionLabel(label: unknown, argument = "version"): string {
  if (typeof label !== "string" || !LABEL.test(label)) {
    throw new CutoverInputError(
      argument,
      label,
      "use 1-40 characters: letters, digits, \".\", \"_\" or \"-\", starting with a letter or digit (e.g. \"v2.3.1\")",
    );
  }
  return label;
}

/** `releaseId("v2.3.1", sha)` → `"v2.3.1-0123456789ab"`. */
export function releaseId(versionLabel: string, sha256hex: string): string {
  const label = validateVersionLabel(versionLabel);
  const sha = validateSha256(sha256hex);
  return `${label}-${sha.slice(0, SHA_PREFIX_LENGTH)}`;
}

/** True for names `releaseId` can produce; the only directory names prune may delete. */
export function isReleaseId(value: unknown): value is string {
  return typeof value === "string" && RELEASE_ID.test(value);
}

/** Throws unless `value` is a release id; `argument` names where it came from. */
export function assertReleaseId(value: unknown, argument = "releaseId"): string {
  if (!isReleaseId(value)) {
    throw new CutoverInputError(
      argument,
      value,
      "use an id made by releaseId(version, sha256), i.e. \"<version>-<12 hex digits>\" such as \"v2.3.1-0123456789ab\"",
    );
  }
  return value;
}

/** Splits an id back into its parts (the digest part is only a prefix of the SHA-256). */
export function parseReleaseId(id: string): { version: string; shaPrefix: string } {
  assertReleaseId(id, "releaseId");
  return { version: id.slice(0, -(SHA_PREFIX_LENGTH + 1)), shaPrefix: id.slice(-SHA_PREFIX_LENGTH) };
}


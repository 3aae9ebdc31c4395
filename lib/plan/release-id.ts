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
import { createHash } from "node:crypto";
import { CutoverInputError, validateRelativePath, validateSha256 } from "./validate";

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


/** How a release is prepared on each host after it is unpacked (a Deployment's `prepare`). */
export interface PrepareSettings {
  linkedDirs?: string[];
  linkedFiles?: string[];
  installCommand?: string;
  buildHooks?: Record<string, string[]>;
}

/**
 * The id of a release as prepared: the artifact's id, with the prepare settings folded into its
 * digest part when there are any (`v2-0123456789ab` → `v2-<12 other hex digits>`).
 *
 * A prepared release is what a host runs: the tree *and* what install and the build hooks made
 * of it. Were the id the artifact's alone, a new install command under the same version would
 * name a directory every host already has prepared: the prepare step's command would not change,
 * so Pulumi would run nothing, and the new command would never run, without a word. A deploy
 * tool's user expects a changed install command to be used, so it makes a new release, which
 * every host prepares and cycles to like any other (and the old one stays a rollback target).
 * Refusing the change instead would make the user invent a version label for it.
 *
 * Only what changes the prepared directory counts, normalized: linked paths in any order, with
 * or without a trailing slash, are one setting; hooks keep their order (they run in it).
 * Without prepare settings the id is the artifact's own.
 */
export function preparedReleaseId(artifactId: string, prepare: PrepareSettings | undefined): string {
  const { version, shaPrefix } = parseReleaseId(artifactId);
  const settings = normalizedPrepare(prepare);
  if (settings === undefined) return artifactId;
  const digest = createHash("sha256").update(`${shaPrefix}\n${JSON.stringify(settings)}`).digest("hex");
  return `${version}-${digest.slice(0, SHA_PREFIX_LENGTH)}`;
}

function normalizedPrepare(p: PrepareSettings | undefined): object | undefined {
  const paths = (list: string[] | undefined, argument: string) =>
    [...new Set((list ?? []).map((x, i) => validateRelativePath(x, `${argument}[${i}]`)))].sort();
  const settings = {
    linkedDirs: paths(p?.linkedDirs, "prepare.linkedDirs"),
    linkedFiles: paths(p?.linkedFiles, "prepare.linkedFiles"),
    installCommand: p?.installCommand?.trim() ?? "",
    buildHooks: Object.entries(p?.buildHooks ?? {})
      .filter(([, hooks]) => hooks.length > 0)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  };
  const none = settings.linkedDirs.length === 0 && settings.linkedFiles.length === 0 && settings.installCommand === "" && settings.buildHooks.length === 0;
  return none ? undefined : settings;
}

/**
 * Release ids for artifacts: `<versionLabel>-<first 12 hex chars of sha256>`.
 *
 * Private to lib/artifact on purpose: lib/plan/release-id.ts is being written at the same time
 * and owns the canonical `releaseId(label, sha)`. Once it lands, this file should become a
 * re-export of it (same rules, same messages) so there is only one definition.
 */

const LABEL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$/;
const SHA256 = /^[0-9a-f]{64}$/;

/** Throws unless `label` can be used as the first half of a release directory name. */
export function validateVersionLabel(label: unknown): string {
  if (typeof label === "string" && LABEL.test(label)) return label;
  throw new Error(
    `versionLabel ${JSON.stringify(label)} is not valid: use 1 to 40 characters from A-Z a-z 0-9 . _ -, ` +
      `starting with a letter or digit (for example "v1.4.2" or "2024-06-01"); ` +
      `it becomes part of a directory name on every host, so no spaces or slashes`,
  );
}

/** `<label>-<sha256[0:12]>`; the hash half makes two builds of different content never collide. */
export function artifactReleaseId(label: string, sha256: string): string {
  validateVersionLabel(label);
  if (!SHA256.test(sha256)) {
    throw new Error(`sha256 ${JSON.stringify(sha256)} is not 64 lowercase hex characters`);
  }
  return `${label}-${sha256.slice(0, 12)}`;
}

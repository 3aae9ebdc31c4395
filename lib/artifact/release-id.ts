// Release ids for artifacts come from the planning layer (one definition); here the
// argument is named as the artifact functions call it.
import { releaseId, validateVersionLabel as validateLabel } from "../plan/release-id";

export const validateVersionLabel = (label: unknown): string => validateLabel(label, "versionLabel");

export const artifactReleaseId = (label: string, sha256: string): string => releaseId(validateVersionLabel(label), sha256);

// The Artifact: what one deploy ships to every host, built (or adopted) once on this machine.
export { buildArtifact } from "./build";
export { useTarball } from "./prebuilt";
export { validateVersionLabel } from "./release-id";
export { FIXED_MTIME } from "./pack";
export type { Artifact, BuildArtifactArgs, UseTarballArgs } from "./types";

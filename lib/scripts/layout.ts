/**
 * Where things live on a host, derived from the deploy root (see ARCHITECTURE.md):
 *
 *   <root>/releases/<id>/          one per release (REVISION, .prepared, .activated inside)
 *   <root>/releases/.<id>.partial  an unpack in progress; renamed to <id> when complete
 *   <root>/shared/                 linked into every release
 *   <root>/current -> releases/<id>
 *   <root>/.cutover/deploy.lock    per-host deploy lock (flock; freed when its holder dies)
 *   <root>/.cutover/deploy.lock.info  who holds it (owner, stack, release, step, pid, time)
 *   <root>/.cutover/uploads/       artifacts in transit (removed once unpacked)
 *   <root>/.cutover/previous       the release current pointed to before the last swap
 *   <root>/.cutover/history.log    one JSON line per activation
 *   <root>/.cutover/migrations/<id> run-once markers
 *
 * Every script takes its paths from here so the layout is defined once.
 */
import { assertReleaseId, validateDeployRoot, validateRelativePath } from "../plan";

export interface Layout {
  readonly root: string;
  readonly releasesDir: string;
  readonly sharedDir: string;
  readonly current: string;
  /** The symlink built beside `current` and renamed over it (rename is atomic). */
  readonly currentTmp: string;
  readonly cutoverDir: string;
  readonly lockFile: string;
  readonly lockInfo: string;
  readonly uploadsDir: string;
  readonly previousFile: string;
  readonly historyLog: string;
  readonly migrationsDir: string;
  releaseDir(id: string): string;
  /** The link target stored in `current`: relative, so the root can be moved or bind-mounted. */
  currentTarget(id: string): string;
  partialDir(id: string): string;
  preparedMarker(id: string): string;
  activatedMarker(id: string): string;
  migrationMarker(id: string): string;
  sharedPath(relative: string): string;
}

export function layout(rootInput: string): Layout {
  const root = validateDeployRoot(rootInput);
  const releasesDir = `${root}/releases`;
  const cutoverDir = `${root}/.cutover`;
  const id = (value: string) => assertReleaseId(value, "releaseId");
  const l: Layout = {
    root,
    releasesDir,
    sharedDir: `${root}/shared`,
    current: `${root}/current`,
    currentTmp: `${root}/current.tmp`,
    cutoverDir,
    lockFile: `${cutoverDir}/deploy.lock`,
    lockInfo: `${cutoverDir}/deploy.lock.info`,
    uploadsDir: `${cutoverDir}/uploads`,
    previousFile: `${cutoverDir}/previous`,
    historyLog: `${cutoverDir}/history.log`,
    migrationsDir: `${cutoverDir}/migrations`,
    releaseDir: (r) => `${releasesDir}/${id(r)}`,
    currentTarget: (r) => `releases/${id(r)}`,
    // Starts with a dot, so it is never a release id: prune ignores it and nothing mistakes
    // a half-unpacked tree for a release.
    partialDir: (r) => `${releasesDir}/.${id(r)}.partial`,
    preparedMarker: (r) => `${l.releaseDir(r)}/.prepared`,
    activatedMarker: (r) => `${l.releaseDir(r)}/.activated`,
    migrationMarker: (r) => `${cutoverDir}/migrations/${id(r)}`,
    sharedPath: (relative) => `${root}/shared/${validateRelativePath(relative, "path")}`,
  };
  return l;
}

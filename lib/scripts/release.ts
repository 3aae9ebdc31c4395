/**
 * Prepare: turn an uploaded artifact into `releases/<id>`, ready to be activated.
 *
 * Idempotent: a release with its `.prepared` marker is done ("already prepared"). The marker
 * is the only thing that makes a directory a good release: it is written last, so a prepare
 * that died halfway leaves a directory without it, which the next prepare of that id starts
 * over and prune deletes. The tarball is unpacked into `releases/.<id>.partial` and renamed
 * into place, so `releases/<id>` never holds a half-unpacked tree; linking, install and hooks
 * then run in the final directory, because tools bake absolute paths (virtualenvs, native
 * builds) and the release must not move afterwards.
 *
 * installCommand and buildHooks are the user's own shell code, run with `sh -c` inside the
 * release directory (see RUN_USER_SH); they arrive as one quoted string each. Each runs under
 * its own time limit (installTimeoutSeconds, buildHookTimeoutSeconds) and without the lock's
 * descriptor, so a hung command fails the step and a daemon it starts never holds the host.
 */
import { IS_RELEASE_ID_SH, RUN_USER_SH, hostScript } from "./common";
import { LockArgs } from "./lock";
import { layout } from "./layout";
import { DEFAULT_COMMAND_TIMEOUTS, commandTimeout } from "./timeouts";
import {
  assertReleaseId,
  validateAbsolutePath,
  validateCommand,
  validateRelativePath,
  validateSha256,
  validateUnixUser,
} from "../plan";

export interface PrepareReleaseArgs {
  root: string;
  releaseId: string;
  /** Absolute path of the uploaded .tar.gz on the host. */
  artifactPath: string;
  /** SHA-256 of the artifact (64 hex digits); the upload is checked against it. */
  sha256: string;
  /** Directories under shared/ linked into the release (e.g. "log", "public/uploads"). */
  linkedDirs?: readonly string[];
  /** Files under shared/ linked into the release (e.g. ".env"); they must exist. */
  linkedFiles?: readonly string[];
  /** Shell command run in the release directory (e.g. "npm ci --omit=dev"). */
  installCommand?: string;
  /** Shell commands run in order after install (e.g. "npm run build"). */
  buildHooks?: readonly string[];
  /** Seconds the install command may run (default DEFAULT_COMMAND_TIMEOUTS.install). */
  installTimeoutSeconds?: number;
  /** Seconds each build hook may run (default DEFAULT_COMMAND_TIMEOUTS.buildHook). */
  buildHookTimeoutSeconds?: number;
  /** Account that owns the release and runs install/hooks (when connected as root). */
  appUser?: string;
  host: string;
  /** Take the host's deploy lock for the whole prepare (see lock.ts). */
  lock?: LockArgs;
  /** Delete the uploaded artifact once the release is prepared (it is not needed any more). */
  removeArtifact?: boolean;
}

const LINK_SH = [
  // Shared dirs are created on first use; a release's own copy of the path is replaced.
  "link_dir() {",
  '  if [ ! -d "$shared/$1" ]; then',
  '    mkdir -p -- "$shared/$1" || fail link "cannot create $shared/$1"',
  '    [ -z "$app_user" ] || [ "$(id -u)" != 0 ] || chown -- "$app_user" "$shared/$1" || fail link "cannot chown $shared/$1 to $app_user"',
  "  fi",
  "  link_path \"$1\"",
  "}",
  // Shared files hold configuration and secrets (.env): creating an empty one would start
  // the app without its settings, so a missing file stops the deploy with the fix.
  "link_file() {",
  '  [ -e "$shared/$1" ] || fail link "shared file $shared/$1 does not exist; create it on the host (it is linked into every release) or remove it from linkedFiles"',
  "  link_path \"$1\"",
  "}",
  "link_path() {",
  '  rm -rf -- "$release_dir/$1" || fail link "cannot replace $release_dir/$1"',
  '  mkdir -p -- "$(dirname -- "$release_dir/$1")" || fail link "cannot create the parent of $release_dir/$1"',
  '  ln -s -- "$shared/$1" "$release_dir/$1" || fail link "cannot link $release_dir/$1 to $shared/$1"',
  "}",
].join("\n");

export function prepareRelease(args: PrepareReleaseArgs): string {
  const l = layout(args.root);
  const id = assertReleaseId(args.releaseId);
  const linkedDirs = (args.linkedDirs ?? []).map((d, i) => validateRelativePath(d, `linkedDirs[${i}]`));
  const linkedFiles = (args.linkedFiles ?? []).map((f, i) => validateRelativePath(f, `linkedFiles[${i}]`));
  const hooks = (args.buildHooks ?? []).map((h, i) => validateCommand(h, `buildHooks[${i}]`));
  const install = args.installCommand === undefined ? undefined : validateCommand(args.installCommand, "installCommand");
  const installLimit = commandTimeout(args.installTimeoutSeconds, DEFAULT_COMMAND_TIMEOUTS.install, "installTimeoutSeconds");
  const hookLimit = commandTimeout(args.buildHookTimeoutSeconds, DEFAULT_COMMAND_TIMEOUTS.buildHook, "buildHookTimeoutSeconds");

  return hostScript({
    host: args.host,
    vars: {
      root: l.root,
      release_id: id,
      releases: l.releasesDir,
      release_dir: l.releaseDir(id),
      partial: l.partialDir(id),
      shared: l.sharedDir,
      current: l.current,
      current_target: l.currentTarget(id),
      artifact: validateAbsolutePath(args.artifactPath, "artifactPath"),
      sha: validateSha256(args.sha256),
      app_user: args.appUser === undefined ? "" : validateUnixUser(args.appUser, "appUser"),
      // Lists become numbered variables, so user text stays in the assignments above the
      // constant body (a property test checks this for every script).
      ...numbered("linked_dir", linkedDirs),
      ...numbered("linked_file", linkedFiles),
      ...(install === undefined ? {} : { install_cmd: install, install_limit: installLimit }),
      ...numbered("hook", hooks),
      ...(hooks.length === 0 ? {} : { hook_limit: hookLimit }),
    },
    functions: [RUN_USER_SH, LINK_SH],
    lock: args.lock,
    body: [
      'if [ -f "$release_dir/.prepared" ]; then say prepare "release $release_id already prepared"; exit 0; fi',

      // Leftovers of an earlier attempt at this id: start over. The live release is never
      // removed (activation requires .prepared, so current without it means hand edits).
      'if [ -e "$release_dir" ] || [ -L "$release_dir" ]; then',
      '  [ "$(readlink -- "$current" 2>/dev/null || true)" != "$current_target" ] ||',
      '    fail prepare "$release_dir is the live release but has no .prepared marker; it was changed by hand — inspect it before deploying"',
      '  rm -rf -- "$release_dir" || fail prepare "cannot remove the half-prepared $release_dir"',
      "fi",
      'rm -rf -- "$partial" || fail unpack "cannot remove the stale $partial"',

      '[ -f "$artifact" ] || fail verify "artifact $artifact is missing; it must be uploaded before prepare (re-run the deploy)"',
      // From stdin, so sha256sum never escapes the file name in its output.
      'actual=$(sha256sum < "$artifact") || fail verify "cannot read $artifact"',
      "actual=${actual%% *}",
      '[ "$actual" = "$sha" ] ||',
      '  fail verify "sha256 of $artifact is $actual, expected $sha; the upload is corrupt or stale — re-run the deploy to upload it again"',

      'mkdir -p -- "$releases" "$shared" || fail unpack "cannot create $releases and $shared; check that the deploy user owns $root"',
      'mkdir -- "$partial" || fail unpack "cannot create $partial"',
      // Archive on stdin and the target as the working directory: GNU tar unquotes
      // backslash escapes in names given as arguments, so paths never go on its command line.
      'if ! (cd "$partial" && tar -xzf - --no-same-owner < "$artifact"); then',
      // A half-unpacked tree is useless and may be what filled the disk.
      '  rm -rf -- "$partial"',
      '  fail unpack "tar could not unpack $artifact into $partial (disk full? see the tar error above); free space on the host and run pulumi up again"',
      "fi",
      // An artifact must not bring its own markers: only this script says a release is prepared.
      'rm -f -- "$partial/.prepared" "$partial/.activated"',
      'mv -T -- "$partial" "$release_dir" || fail unpack "cannot rename $partial to $release_dir"',

      ...linkedDirs.map((_, i) => `link_dir "$linked_dir_${i + 1}"`),
      ...linkedFiles.map((_, i) => `link_file "$linked_file_${i + 1}"`),

      'printf \'%s\\n\' "$release_id" > "$release_dir/REVISION" || fail revision "cannot write $release_dir/REVISION"',
      'if [ -n "$app_user" ] && [ "$(id -u)" = 0 ]; then',
      '  chown -R -- "$app_user" "$release_dir" || fail prepare "cannot chown $release_dir to $app_user"',
      "fi",

      install !== undefined && 'run_user install "$install_limit" "$release_dir" "$install_cmd"',
      ...hooks.map((_, i) => `run_user 'build hook ${i + 1}' "$hook_limit" "$release_dir" "$hook_${i + 1}"`),

      'touch -- "$release_dir/.prepared" || fail prepare "cannot write $release_dir/.prepared"',
      args.removeArtifact && 'rm -f -- "$artifact"',
      'say prepare "release $release_id prepared in $release_dir"',
    ],
  });
}

function numbered(prefix: string, values: readonly string[]): Record<string, string> {
  return Object.fromEntries(values.map((v, i) => [`${prefix}_${i + 1}`, v]));
}

/**
 * What a host has of a release, before anything is uploaded: prints `cutover-prepared yes|no`
 * and one `cutover-available <id>` line per prepared release (the ids a rollback can target),
 * and makes sure the uploads directory exists. Changes nothing else.
 */
export function probeRelease({ root, releaseId, host }: { root: string; releaseId: string; host: string }): string {
  const l = layout(root);
  return hostScript({
    host,
    vars: { releases: l.releasesDir, uploads: l.uploadsDir, release_id: assertReleaseId(releaseId) },
    functions: [IS_RELEASE_ID_SH],
    body: [
      'mkdir -p -- "$releases" "$uploads" || fail probe "cannot create $releases and $uploads; check that the deploy user owns the deploy root"',
      'if [ -f "$releases/$release_id/.prepared" ]; then echo "cutover-prepared yes"; else echo "cutover-prepared no"; fi',
      'for dir in "$releases"/*; do',
      '  name=${dir##*/}',
      '  is_release_id "$name" && [ -f "$dir/.prepared" ] && printf \'cutover-available %s\\n\' "$name"',
      "done",
      "exit 0",
    ],
  });
}

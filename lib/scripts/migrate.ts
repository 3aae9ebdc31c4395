/**
 * Run-once migration. Runs on one host (the migration host) after every host prepared and
 * before any host is activated, so old code keeps serving while the schema moves: migrations
 * must therefore be backward compatible with the release still live.
 *
 * "Once" is kept by a marker, `<root>/.cutover/migrations/<id>`, written only after the
 * migration succeeded: a retried deploy, or a rollback-then-redeploy of the same id, skips it.
 * The marker lives on the migration host, so keep that host stable across deploys.
 * The optional backup command runs first and a failing backup stops the migration.
 * Both commands are the user's shell code, run with `sh -c` inside releases/<id>, each under
 * its own time limit (migrationTimeoutSeconds, backupTimeoutSeconds) and without the lock's
 * descriptor (see RUN_USER_SH). A migration that runs out of time is killed and leaves no marker:
 * the next deploy runs it again, so keep migrations safe to re-run after an interruption.
 */
import { NOW_SH, RUN_USER_SH, hostScript } from "./common";
import { LockArgs } from "./lock";
import { layout } from "./layout";
import { DEFAULT_COMMAND_TIMEOUTS, commandTimeout } from "./timeouts";
import { assertReleaseId, validateCommand, validateUnixUser } from "../plan";

export interface MigrationArgs {
  root: string;
  releaseId: string;
  host: string;
  /** Shell command that migrates (e.g. "npm run migrate"). */
  command: string;
  /** Shell command run before the migration (e.g. "pg_dump … > /backups/$CUTOVER_RELEASE.sql"). */
  backupCommand?: string;
  /** Seconds the migration command may run (default DEFAULT_COMMAND_TIMEOUTS.migration). */
  migrationTimeoutSeconds?: number;
  /** Seconds the backup command may run (default DEFAULT_COMMAND_TIMEOUTS.backup). */
  backupTimeoutSeconds?: number;
  /** Account that runs both commands (when connected as root). */
  appUser?: string;
  /** Take the host's deploy lock for the whole migration (see lock.ts). */
  lock?: LockArgs;
}

export function runMigration({
  root,
  releaseId,
  host,
  command,
  backupCommand,
  migrationTimeoutSeconds,
  backupTimeoutSeconds,
  appUser,
  lock,
}: MigrationArgs): string {
  const l = layout(root);
  const id = assertReleaseId(releaseId);
  return hostScript({
    host,
    vars: {
      root: l.root,
      release_id: id,
      release_dir: l.releaseDir(id),
      shared: l.sharedDir,
      migrations: l.migrationsDir,
      marker: l.migrationMarker(id),
      migrate_cmd: validateCommand(command, "migrationCommand"),
      migrate_limit: commandTimeout(migrationTimeoutSeconds, DEFAULT_COMMAND_TIMEOUTS.migration, "migrationTimeoutSeconds"),
      backup_cmd: backupCommand === undefined ? "" : validateCommand(backupCommand, "backupCommand"),
      backup_limit: commandTimeout(backupTimeoutSeconds, DEFAULT_COMMAND_TIMEOUTS.backup, "backupTimeoutSeconds"),
      app_user: appUser === undefined ? "" : validateUnixUser(appUser, "appUser"),
    },
    functions: [NOW_SH, RUN_USER_SH],
    lock,
    body: [
      'if [ -f "$marker" ]; then say migrate "migration for $release_id already ran ($(cat -- "$marker"))"; exit 0; fi',
      '[ -f "$release_dir/.prepared" ] ||',
      '  fail migrate "release $release_id is not prepared on this host ($release_dir/.prepared is missing); prepare it here before migrating"',
      'mkdir -p -- "$migrations" || fail migrate "cannot create $migrations"',
      'if [ -n "$backup_cmd" ]; then run_user backup "$backup_limit" "$release_dir" "$backup_cmd"; say backup "done"; fi',
      'run_user migrate "$migrate_limit" "$release_dir" "$migrate_cmd"',
      "printf 'ran at %s\\n' \"$(now)\" > \"$marker.tmp\" && mv -f -- \"$marker.tmp\" \"$marker\" ||",
      '  fail migrate "the migration succeeded but $marker could not be written; create it by hand or the next deploy of $release_id runs it again"',
      'say migrate "migration for $release_id done"',
    ],
  });
}

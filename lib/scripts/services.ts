/**
 * Service managers: how the app process is restarted after a swap on existing servers
 * (supervisord or systemd), and the systemd unit an EC2 host is given. The unit is rendered
 * from an argv array, never from a command string: ExecStart words are double-quoted with
 * `\\`/`"` escaped; `%` (specifiers) is doubled and `$` (variable expansion) too.
 * The app runs as a non-root account with restart limits: a release that crashes on start
 * must not spin forever (seeds/001).
 */
import { quote } from "./quote";
import { CutoverInputError, validateAbsolutePath, validateInteger, validateNonRootUser, validateServiceName, validateUnixUser } from "../plan";

function validateArgv(value: unknown, argument: string): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.some((w) => typeof w !== "string" || /[\0\n\r]/.test(w))) {
    throw new CutoverInputError(argument, value, "give the command as a non-empty list of words without newlines, e.g. [\"node\", \"server.js\"]");
  }
  if (value[0] === "") throw new CutoverInputError(argument, value, "the first word must name the program to run");
  return value as string[];
}

/** Paths inside config files: absolute, and without a character the format would read. */
function validateConfigPath(value: unknown, argument: string): string {
  const path = validateAbsolutePath(value, argument);
  if (/[\s"'\\%$;#]/.test(path)) {
    throw new CutoverInputError(argument, value, "use a path without spaces, quotes, backslashes, \"%\", \"$\", \";\" or \"#\" (it goes into a config file)");
  }
  return path;
}

// ─── supervisord ────────────────────────────────────────────────────────────────────────

export function supervisorRestartCommand(conf: string, name: string): string {
  return `supervisorctl -c ${quote(validateAbsolutePath(conf, "conf"))} restart ${quote(validateServiceName(name, "name"))}`;
}

/** Stops the program (the overlap strategy stops a slot once its warm time is over). */
export function supervisorStopCommand(conf: string, name: string): string {
  return `supervisorctl -c ${quote(validateAbsolutePath(conf, "conf"))} stop ${quote(validateServiceName(name, "name"))}`;
}

// ─── systemd ────────────────────────────────────────────────────────────────────────────

export interface SystemdUnit {
  name: string;
  /** Non-root account the service runs as (root is rejected). */
  user: string;
  workingDirectory: string;
  execStart: readonly string[];
  environmentFile?: string;
  description?: string;
  restartSec?: number;
  /** At most startLimitBurst starts within startLimitIntervalSec, then systemd gives up. */
  startLimitBurst?: number;
  startLimitIntervalSec?: number;
}

/** One ExecStart word: double-quoted, with `\` and `"` escaped and `%`/`$` doubled. */
function systemdWord(word: string): string {
  const escaped = word.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/%/g, "%%").replace(/\$/g, "$$$$");
  return /^[A-Za-z0-9_@+=:,./-]+$/.test(word) ? escaped : `"${escaped}"`;
}

export function renderSystemdUnit(u: SystemdUnit): string {
  const name = validateServiceName(u.name, "name");
  const description = u.description ?? `${name} (deployed by Cutover)`;
  if (/[\n\r%]/.test(description)) {
    throw new CutoverInputError("description", description, "use one line without \"%\"");
  }
  const execStart = validateArgv(u.execStart, "execStart");
  return [
    "[Unit]",
    `Description=${description}`,
    "After=network-online.target",
    "Wants=network-online.target",
    `StartLimitIntervalSec=${validateInteger(u.startLimitIntervalSec ?? 60, "startLimitIntervalSec", { min: 1, unit: "seconds" })}`,
    `StartLimitBurst=${validateInteger(u.startLimitBurst ?? 5, "startLimitBurst", { min: 1 })}`,
    "",
    "[Service]",
    "Type=simple",
    `User=${validateNonRootUser(u.user, "user")}`,
    `WorkingDirectory=${validateConfigPath(u.workingDirectory, "workingDirectory")}`,
    ...(u.environmentFile === undefined ? [] : [`EnvironmentFile=${validateConfigPath(u.environmentFile, "environmentFile")}`]),
    `ExecStart=${execStart.map(systemdWord).join(" ")}`,
    "Restart=on-failure",
    `RestartSec=${validateInteger(u.restartSec ?? 2, "restartSec", { min: 0, unit: "seconds" })}`,
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

// ─── systemd for a non-root deploy account ──────────────────────────────────────────────
// The deploy account (Cutover's SSH user) is not root: it restarts the app through sudo, and
// the rule Cutover renders allows exactly that one command, nothing else.

const SYSTEMCTL = "/usr/bin/systemctl";

/** The restart a non-root deploy account runs; matches renderSudoRule word for word. */
export function systemdSudoRestartCommand(name: string): string {
  return `sudo -n ${SYSTEMCTL} restart ${quote(`${validateServiceName(name, "name")}.service`)}`;
}

/** The stop a non-root deploy account runs (an overlap slot after its warm time); matches renderSudoRule. */
export function systemdSudoStopCommand(name: string): string {
  return `sudo -n ${SYSTEMCTL} stop ${quote(`${validateServiceName(name, "name")}.service`)}`;
}

/** /etc/sudoers.d/<file>: `user` may restart, stop (and query) the unit, as root, without a password. */
export function renderSudoRule(a: { user: string; service: string }): string {
  const user = validateNonRootUser(a.user, "user");
  const unit = `${validateServiceName(a.service, "service")}.service`;
  return [
    `# Rendered by Cutover: ${user} may restart and stop ${unit} and nothing else.`,
    `${user} ALL=(root) NOPASSWD: ${SYSTEMCTL} restart ${unit}, ${SYSTEMCTL} stop ${unit}, ${SYSTEMCTL} is-active ${unit}`,
    "",
  ].join("\n");
}

/**
 * Writes a secret file (the app's EnvironmentFile) from stdin: created 0600 under umask 077
 * before a byte is written, owned by `owner`, renamed into place. The content never appears
 * in a command line, so neither `ps` nor a log shows it.
 */
export function writeSecretFileScript(path: string, owner = "root"): string {
  const file = validateConfigPath(path, "path");
  const tmp = `${file}.tmp`;
  return [
    "set -eu",
    "umask 077",
    `cat > ${quote(tmp)}`,
    `chown ${quote(validateUnixUser(owner, "owner"))}: ${quote(tmp)}`,
    `chmod 0600 ${quote(tmp)}`,
    `mv -f ${quote(tmp)} ${quote(file)}`,
    "",
  ].join("\n");
}

/**
 * Service managers: how the app process is kept running on a host, and how it is restarted
 * after a swap. Both render their config from argv arrays, never from a command string, and
 * escape for their own config syntax:
 * - supervisord: `command=` is split like a shell (shlex), so each word is POSIX-quoted;
 *   `%` starts an expansion there, so it is doubled.
 * - systemd: ExecStart words are double-quoted with `\\`/`"` escaped; `%` (specifiers) is
 *   doubled and `$` (variable expansion) too.
 * The app runs as a non-root account with restart limits: a release that crashes on start
 * must not spin forever (seeds/001).
 */
import { quote } from "./quote";
import {
  CutoverInputError,
  validateAbsolutePath,
  validateInteger,
  validateNonRootUser,
  validateServiceName,
  validateUnixUser,
} from "../plan";

export interface ServiceManager {
  readonly kind: "supervisord" | "systemd";
  readonly name: string;
  /** Where configText() goes on the host. */
  readonly configPath: string;
  configText(): string;
  /** Shell that writes configText() to configPath atomically and makes the manager load it. */
  installScript(): string;
  /** Shell that restarts the app (used by activate and restore). */
  restartCommand(): string;
  statusCommand(): string;
}

const SIGNALS = ["TERM", "INT", "QUIT", "HUP", "KILL", "USR1", "USR2"] as const;
export type StopSignal = (typeof SIGNALS)[number];

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

function validateSignal(value: unknown): StopSignal {
  if (!SIGNALS.includes(value as StopSignal)) {
    throw new CutoverInputError("stopSignal", value, `use one of ${SIGNALS.join(", ")}`);
  }
  return value as StopSignal;
}

/** Writes `text` to `path` through a temp file (a half-written config is never read). */
function writeFileScript(path: string, text: string): string {
  return `printf '%s' ${quote(text)} > ${quote(`${path}.tmp`)} && mv -f ${quote(`${path}.tmp`)} ${quote(path)}`;
}

// ─── supervisord ────────────────────────────────────────────────────────────────────────

export interface SupervisorProgram {
  name: string;
  command: readonly string[];
  /** Normally `<root>/current`: supervisord resolves it again at each start. */
  directory: string;
  /** Non-root account; omit when supervisord itself runs as the app user. */
  user?: string;
  /** File of KEY=value lines, sourced by sh before the command starts. */
  environmentFile?: string;
  stopSignal?: StopSignal;
  stopwaitsecs?: number;
  startretries?: number;
  /** Seconds the process must stay up to count as started (default 5). */
  startsecs?: number;
  /** Directory for `<name>.out.log` / `<name>.err.log`; supervisord's defaults when omitted. */
  logDir?: string;
}

export function renderSupervisorProgram(p: SupervisorProgram): string {
  const name = validateServiceName(p.name, "name");
  const argv = validateArgv(p.command, "command").map((w) => quote(w)).join(" ");
  const command =
    p.environmentFile === undefined
      ? argv
      : // set -a exports every variable the file assigns; exec hands the pid to the app, so
        // signals from supervisord reach it directly.
        `/bin/sh -c ${quote(`set -a && . ${quote(validateConfigPath(p.environmentFile, "environmentFile"))} && set +a && exec ${argv}`)}`;
  const lines = [
    `[program:${name}]`,
    `command=${command.replace(/%/g, "%%")}`,
    `directory=${validateConfigPath(p.directory, "directory")}`,
    p.user !== undefined && `user=${validateNonRootUser(p.user, "user")}`,
    "autostart=true",
    "autorestart=true",
    `startsecs=${validateInteger(p.startsecs ?? 5, "startsecs", { min: 0, unit: "seconds" })}`,
    `startretries=${validateInteger(p.startretries ?? 3, "startretries", { min: 0, max: 100 })}`,
    `stopsignal=${validateSignal(p.stopSignal ?? "TERM")}`,
    `stopwaitsecs=${validateInteger(p.stopwaitsecs ?? 30, "stopwaitsecs", { min: 1, unit: "seconds" })}`,
    // Children of the app (workers, `sh -c` wrappers) stop with it.
    "stopasgroup=true",
    "killasgroup=true",
    ...logLines(name, p.logDir),
  ];
  return lines.filter((l): l is string => typeof l === "string").join("\n") + "\n";
}

function logLines(name: string, logDir: string | undefined): string[] {
  if (logDir === undefined) return [];
  const dir = validateConfigPath(logDir, "logDir");
  return [`stdout_logfile=${dir}/${name}.out.log`, `stderr_logfile=${dir}/${name}.err.log`];
}

export function supervisorRestartCommand(conf: string, name: string): string {
  return `supervisorctl -c ${quote(validateAbsolutePath(conf, "conf"))} restart ${quote(validateServiceName(name, "name"))}`;
}

export interface SupervisorServiceArgs {
  /** supervisord's main config (passed to supervisorctl -c). */
  conf: string;
  /** Where the program section goes: a file included by the main config. */
  programPath: string;
  program: SupervisorProgram;
}

export function supervisorService({ conf, programPath, program }: SupervisorServiceArgs): ServiceManager {
  const text = renderSupervisorProgram(program);
  const ctl = `supervisorctl -c ${quote(validateAbsolutePath(conf, "conf"))}`;
  const path = validateAbsolutePath(programPath, "programPath");
  const name = program.name;
  return {
    kind: "supervisord",
    name,
    configPath: path,
    configText: () => text,
    // reread+update starts a new program and restarts a changed one; an unchanged one is left.
    installScript: () => `set -eu\n${writeFileScript(path, text)}\n${ctl} reread\n${ctl} update ${quote(name)}\n`,
    restartCommand: () => supervisorRestartCommand(conf, name),
    statusCommand: () => `${ctl} status ${quote(name)}`,
  };
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
export function systemdWord(word: string): string {
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

export function systemdRestartCommand(name: string): string {
  return `systemctl restart ${quote(`${validateServiceName(name, "name")}.service`)}`;
}

export function systemdService(unit: SystemdUnit, unitDir = "/etc/systemd/system"): ServiceManager {
  const text = renderSystemdUnit(unit);
  const service = `${unit.name}.service`;
  const path = `${validateAbsolutePath(unitDir, "unitDir")}/${service}`;
  return {
    kind: "systemd",
    name: unit.name,
    configPath: path,
    configText: () => text,
    installScript: () =>
      `set -eu\n${writeFileScript(path, text)}\nsystemctl daemon-reload\nsystemctl enable ${quote(service)}\n`,
    restartCommand: () => systemdRestartCommand(unit.name),
    statusCommand: () => `systemctl is-active ${quote(service)}`,
  };
}

// ─── systemd for a non-root deploy account ──────────────────────────────────────────────
// The deploy account (Cutover's SSH user) is not root: it restarts the app through sudo, and
// the rule Cutover renders allows exactly that one command, nothing else.

const SYSTEMCTL = "/usr/bin/systemctl";

/** The restart a non-root deploy account runs; matches renderSudoRule word for word. */
export function systemdSudoRestartCommand(name: string): string {
  return `sudo -n ${SYSTEMCTL} restart ${quote(`${validateServiceName(name, "name")}.service`)}`;
}

/** /etc/sudoers.d/<file>: `user` may restart (and query) the unit, as root, without a password. */
export function renderSudoRule(a: { user: string; service: string }): string {
  const user = validateNonRootUser(a.user, "user");
  const unit = `${validateServiceName(a.service, "service")}.service`;
  return [
    `# Rendered by Cutover: ${user} may restart ${unit} and nothing else.`,
    `${user} ALL=(root) NOPASSWD: ${SYSTEMCTL} restart ${unit}, ${SYSTEMCTL} is-active ${unit}`,
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

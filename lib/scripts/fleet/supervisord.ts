// supervisord for one local-fleet host. It runs as root so it can start the app as the
// non-root app user; the deploy user controls it only through its socket (mode 0700).

export interface SupervisordConfigArgs {
  dir: string;
  socketPath: string;
  socketOwner: string;
  pidFile: string;
  logFile: string;
  /** Program sections, one file each (rendered by scripts/services). */
  includeGlob: string;
}

export function renderSupervisordConfig(a: SupervisordConfigArgs): string {
  for (const [name, value] of Object.entries(a)) {
    if (/[\s;]/.test(value)) {
      throw new Error(`supervisord ${name} ${JSON.stringify(value)} is invalid: use a path without spaces or semicolons`);
    }
  }
  return [
    "; Written by Cutover's local fleet; changes are overwritten on the next `pulumi up`.",
    "[unix_http_server]",
    `file=${a.socketPath}`,
    "chmod=0700",
    `chown=${a.socketOwner}`,
    "",
    "[supervisord]",
    `pidfile=${a.pidFile}`,
    `logfile=${a.logFile}`,
    `directory=${a.dir}`,
    "logfile_maxbytes=1MB",
    "logfile_backups=2",
    "",
    "[rpcinterface:supervisor]",
    "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
    "",
    "[supervisorctl]",
    `serverurl=unix://${a.socketPath}`,
    "",
    "[include]",
    `files=${a.includeGlob}`,
    "",
  ].join("\n");
}

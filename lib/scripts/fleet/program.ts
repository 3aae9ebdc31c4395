// The app's supervisord program section on a local-fleet host. supervisord parses these
// values itself (shell-like words, %-interpolation), so they are validated and escaped for
// its syntax here rather than for a shell.

export interface AppProgramArgs {
  name: string;
  command: string[];
  /** The release the app runs from: `<root>/current`, resolved on every (re)start. */
  directory: string;
  user: string;
  environment: Record<string, string>;
  logDir: string;
  autostart: boolean;
}

function word(arg: string): string {
  if (/[\n\r]/.test(arg)) throw new Error(`service command argument ${JSON.stringify(arg)} contains a newline`);
  const escaped = arg.replace(/%/g, "%%");
  return /^[A-Za-z0-9_@+=:,./-]+$/.test(arg) ? escaped : `"${escaped.replace(/(["\\])/g, "\\$1")}"`;
}

function plainValue(name: string, value: string): string {
  if (!/^[A-Za-z0-9_@+=:,./-]+$/.test(value)) {
    throw new Error(`service ${name} ${JSON.stringify(value)} is invalid: use letters, digits and _ @ + = : , . / - only`);
  }
  return value;
}

export function renderAppProgram(a: AppProgramArgs): string {
  if (a.command.length === 0) throw new Error("service command is empty: give the app's start command, e.g. [\"node\", \"server.js\"]");
  const env = Object.entries(a.environment).map(([k, v]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`service environment name ${JSON.stringify(k)} is invalid`);
    if (/[\n\r]/.test(v)) throw new Error(`service environment ${k} contains a newline`);
    return `${k}="${v.replace(/%/g, "%%").replace(/(["\\])/g, "\\$1")}"`;
  });
  const name = plainValue("name", a.name);
  return [
    `[program:${name}]`,
    `command=${a.command.map(word).join(" ")}`,
    `directory=${plainValue("directory", a.directory)}`,
    `user=${plainValue("user", a.user)}`,
    ...(env.length > 0 ? [`environment=${env.join(",")}`] : []),
    `autostart=${a.autostart}`,
    "autorestart=true",
    // An exit within 1 s of a start is a crash (BACKOFF; FATAL after 3 tries, not restarting
    // forever). The restart does not wait for it: the check polls the app's readiness and asks
    // supervisord between polls, stopping at once on BACKOFF or FATAL (supervisord-rpc.ts).
    "startsecs=1",
    "startretries=3",
    "stopsignal=TERM",
    "stopwaitsecs=15",
    "stopasgroup=true",
    "killasgroup=true",
    `stdout_logfile=${plainValue("logDir", a.logDir)}/${name}.out.log`,
    `stderr_logfile=${a.logDir}/${name}.err.log`,
    "stdout_logfile_maxbytes=1MB",
    "stderr_logfile_maxbytes=1MB",
    "",
  ].join("\n");
}

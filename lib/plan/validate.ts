/**
 * Shared argument validators. Each one throws a CutoverInputError whose message names the
 * argument, shows the offending value and says what to do instead, so a bad stack config is
 * caught before any resource is created, with the fix in the first line of the error.
 */

/** An argument given to Cutover is invalid; `argument` names it, `value` is what was given. */
export class CutoverInputError extends Error {
  readonly argument: string;
  readonly value: unknown;
  /**
   * The message after the argument's name (`"v 1" is invalid: use …`), so that a caller that
   * knows the argument by another name (the stack program: a config key such as
   * `cutover:app.version`) can say the same with the name its user wrote.
   */
  readonly says: string;
  /** What to do, without the name and the value: for a reporter that shows those itself (the engine's property errors). */
  readonly fix: string;

  /** `says` replaces the usual `<value> is invalid: <fix>` where a refusal reads better otherwise. */
  constructor(argument: string, value: unknown, fix: string, says = ` ${describeValue(value)} is invalid: ${fix}`) {
    super(`${argument}${says}`);
    this.name = "CutoverInputError";
    this.argument = argument;
    this.value = value;
    this.says = says;
    this.fix = fix;
  }

  /** The same refusal, naming the argument as `name`. */
  namedAs(name: string): string {
    return `${name}${this.says}`;
  }
}

/** Shows a value the way a user would type it in config: strings quoted, the rest as JSON. */
export function describeValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (typeof value === "number") return String(value);
  if (value === undefined) return "(missing)";
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

// C0 controls and DEL: never legitimate in names or paths, and a newline would split a
// config line or a `key=value` record on the host.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

function requireString(value: unknown, argument: string, fix: string): string {
  if (typeof value !== "string") throw new CutoverInputError(argument, value, fix);
  return value;
}

const HOST_NAME = /^[a-z][a-z0-9-]{0,30}$/;

/** A Cutover host name (`web1`, `media-2`): also used in resource names and messages. */
export function validateHostName(value: unknown, argument = "host"): string {
  const fix =
    "use 1-31 characters: a lowercase letter first, then lowercase letters, digits or dashes (e.g. \"web1\")";
  const name = requireString(value, argument, fix);
  if (!HOST_NAME.test(name)) throw new CutoverInputError(argument, value, fix);
  return name;
}

const ROLE_NAME = /^[a-z][a-z0-9_-]{0,30}$/;

/** A role (`web`, `worker`, `celery_beat`): groups hosts that run the same processes. */
export function validateRoleName(value: unknown, argument = "role"): string {
  const fix =
    "use 1-31 characters: a lowercase letter first, then lowercase letters, digits, dashes or underscores (e.g. \"web\")";
  const name = requireString(value, argument, fix);
  if (!ROLE_NAME.test(name)) throw new CutoverInputError(argument, value, fix);
  return name;
}

/**
 * An absolute POSIX path such as a deploy root. Rejects relative paths, `.`/`..` segments
 * (the on-host scripts must never wander outside what was configured), control characters,
 * and `/` itself (releases/, shared/ and current would land in the filesystem root).
 * Returns the path with repeated and trailing slashes removed, so joins stay canonical.
 */
export function validateAbsolutePath(value: unknown, argument = "root"): string {
  const fix = "use an absolute path such as \"/srv/app\" (no \"..\" or \".\" segments, no control characters)";
  const text = requireString(value, argument, fix);
  if (!text.startsWith("/") || CONTROL.test(text)) throw new CutoverInputError(argument, value, fix);
  const segments = text.split("/").filter((s) => s.length > 0);
  if (segments.some((s) => s === "." || s === "..")) throw new CutoverInputError(argument, value, fix);
  if (segments.length === 0) {
    throw new CutoverInputError(argument, value, "use a dedicated directory such as \"/srv/app\", not the filesystem root");
  }
  return "/" + segments.join("/");
}

/** The deploy root on a host: `<root>/releases`, `<root>/shared`, `<root>/current` live in it. */
export function validateDeployRoot(value: unknown, argument = "root"): string {
  return validateAbsolutePath(value, argument);
}

/**
 * A path relative to a release directory (linked dirs and files such as `log` or
 * `config/.env`): no leading slash, no `.`/`..` segments, no control characters.
 */
export function validateRelativePath(value: unknown, argument: string): string {
  const fix = "use a path inside the release such as \"log\" or \"config/.env\" (relative, no \"..\" or \".\" segments)";
  const text = requireString(value, argument, fix);
  if (text.startsWith("/") || CONTROL.test(text)) throw new CutoverInputError(argument, value, fix);
  const segments = text.split("/").filter((s) => s.length > 0);
  if (segments.length === 0 || segments.some((s) => s === "." || s === "..")) {
    throw new CutoverInputError(argument, value, fix);
  }
  return segments.join("/");
}

/** A TCP port. */
export function validatePort(value: unknown, argument = "port"): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw new CutoverInputError(argument, value, "use a whole number between 1 and 65535");
  }
  return value;
}

/** A whole number in [min, max]; `unit` makes the message read naturally ("seconds"). */
export function validateInteger(
  value: unknown,
  argument: string,
  { min, max = Number.MAX_SAFE_INTEGER, unit }: { min: number; max?: number; unit?: string },
): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `between ${min} and ${max}`;
    throw new CutoverInputError(argument, value, `use a whole number ${range}${unit ? ` (${unit})` : ""}`);
  }
  return value;
}

const UNIX_USER = /^[a-z_][a-z0-9_-]{0,31}$/;

/** A Unix account name (`app`, `deploy`). */
export function validateUnixUser(value: unknown, argument = "user"): string {
  const fix = "use an existing Unix account name: lowercase letters, digits, \"_\" or \"-\", at most 32 characters";
  const name = requireString(value, argument, fix);
  if (!UNIX_USER.test(name)) throw new CutoverInputError(argument, value, fix);
  return name;
}

/** A Unix account that is not root: apps run unprivileged so a crash loop cannot own the host. */
export function validateNonRootUser(value: unknown, argument = "user"): string {
  const name = validateUnixUser(value, argument);
  if (name === "root") {
    throw new CutoverInputError(argument, value, "run the app as a dedicated non-root account (e.g. \"app\")");
  }
  return name;
}

const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;

/** A supervisord program or systemd unit name (`myapp`, `myapp-web`). */
export function validateServiceName(value: unknown, argument = "name"): string {
  const fix = "use 1-64 characters: letters, digits, \".\", \"_\", \"@\" or \"-\", starting with a letter or digit";
  const name = requireString(value, argument, fix);
  if (!SERVICE_NAME.test(name)) throw new CutoverInputError(argument, value, fix);
  return name;
}

const SHA256 = /^[0-9a-fA-F]{64}$/;

/** A SHA-256 digest as 64 hex digits; returned in lowercase (what `sha256sum` prints). */
export function validateSha256(value: unknown, argument = "sha256"): string {
  const text = requireString(value, argument, "use the 64 hex digits of the artifact's SHA-256");
  if (!SHA256.test(text)) throw new CutoverInputError(argument, value, "use the 64 hex digits of the artifact's SHA-256");
  return text.toLowerCase();
}

/**
 * Free text that ends up on one line of a record or message on the host (a deploy owner,
 * a stack name): non-empty, at most `max` characters, no control characters.
 */
export function validateLabel(value: unknown, argument: string, max = 100): string {
  const fix = `use 1-${max} characters without newlines or other control characters`;
  const text = requireString(value, argument, fix);
  if (text.length === 0 || text.length > max || CONTROL.test(text)) throw new CutoverInputError(argument, value, fix);
  return text;
}

/** A shell command given by the user (install, hooks, restart): non-empty, no NUL byte. */
export function validateCommand(value: unknown, argument: string): string {
  const fix = "give a non-empty shell command, e.g. \"npm ci --omit=dev\"";
  const text = requireString(value, argument, fix);
  if (text.trim().length === 0 || text.includes("\0")) throw new CutoverInputError(argument, value, fix);
  return text;
}

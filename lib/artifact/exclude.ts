/**
 * Exclusion rules for the artifact walk, in the spirit of .gitignore but deliberately small:
 *
 * - `name` or `*.log` (no slash): matches an entry with that name at any depth;
 * - `dir/sub` or `config/*.local.json` (has a slash): matched against the path from the app
 *   root (a leading `/` or `./` is allowed and means the same);
 * - `*` and `?` never cross a `/`; `**` as a whole segment spans any number of directories;
 * - a trailing `/` restricts the rule to directories (`tmp/` skips the dir, not a file `tmp`).
 *
 * An excluded directory is not descended into, so everything below it is gone too.
 * `.git` is always excluded: history has no business on a server.
 */

export interface ExcludeRule {
  readonly pattern: string;
  readonly dirOnly: boolean;
  /** Matched against the entry name (unanchored) or the whole relative path (anchored). */
  readonly anchored: boolean;
  readonly regex: RegExp;
}

export const ALWAYS_EXCLUDED: readonly string[] = [".git"];

export function compileExcludes(patterns: readonly string[] = []): ExcludeRule[] {
  return [...ALWAYS_EXCLUDED, ...patterns].map((p, i) => compileOne(p, i - ALWAYS_EXCLUDED.length));
}

/** `relPath` uses `/` separators and never starts with `./`. */
export function isExcluded(rules: readonly ExcludeRule[], relPath: string, isDirectory: boolean): boolean {
  const name = relPath.slice(relPath.lastIndexOf("/") + 1);
  return rules.some((r) => (!r.dirOnly || isDirectory) && r.regex.test(r.anchored ? relPath : name));
}

function compileOne(pattern: unknown, index: number): ExcludeRule {
  const where = index < 0 ? "built-in exclude" : `exclude[${index}]`;
  if (typeof pattern !== "string" || pattern.trim() === "") {
    throw new Error(`${where} must be a non-empty string such as "node_modules" or "logs/*.log"`);
  }
  let body = pattern;
  const dirOnly = body.endsWith("/");
  if (dirOnly) body = body.replace(/\/+$/, "");
  if (body.startsWith("./")) body = body.slice(2);
  const anchored = body.includes("/");
  if (body.startsWith("/")) body = body.replace(/^\/+/, "");
  if (body === "" || body.split("/").some((seg) => seg === ".." || seg === "." || seg === "")) {
    throw new Error(
      `${where} ${JSON.stringify(pattern)} is not a usable pattern: write a name ("node_modules") ` +
        `or a path from the app root ("logs/*.log"), without "." or ".." segments`,
    );
  }
  return { pattern, dirOnly, anchored, regex: new RegExp(`^${globToRegex(body)}$`) };
}

function globToRegex(glob: string): string {
  const segments = glob.split("/");
  let out = "";
  segments.forEach((seg, i) => {
    const last = i === segments.length - 1;
    if (seg === "**") {
      // `a/**/b` also matches `a/b`; a trailing `a/**` matches everything below `a`.
      out += last ? ".*" : "(?:[^/]+/)*";
      return;
    }
    for (const ch of seg) {
      if (ch === "*") out += "[^/]*";
      else if (ch === "?") out += "[^/]";
      else out += ch.replace(/[.+^${}()|[\]\\]/g, "\\$&");
    }
    if (!last) out += "/";
  });
  return out;
}

/**
 * The one quoting helper. Every shell line Cutover runs on a host (or on this machine for the
 * local fleet) is built here: values interpolated into `sh` are single-quoted, so no path,
 * host name, release id or user input can escape into the shell. Only `raw(...)` text is
 * passed through unquoted, and raw text must come from Cutover's own constants, never input.
 */

/** Shell text that is inserted verbatim. Never wrap user input in this. */
export class Raw {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** One shell word (quoted unless Raw). */
export type Word = string | number | Raw;
/** A word, or a command given as a list of words. */
export type ShellValue = Word | ReadonlyArray<Word>;

export function raw(text: string): Raw {
  return new Raw(text);
}

/** POSIX single-quoting: the result is always exactly one shell word equal to `value`. */
export function quote(value: string | number): string {
  const text = String(value);
  if (text.includes("\0")) {
    throw new Error(`cannot pass a NUL byte to the shell (value starts ${JSON.stringify(text.slice(0, 20))})`);
  }
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(text)) return text;
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

function render(value: ShellValue): string {
  if (value instanceof Raw) return value.text;
  if (Array.isArray(value)) return value.map((v) => render(v as ShellValue)).join(" ");
  return quote(value as string | number);
}

/**
 * Tagged template for one shell line: `sh\`mkdir -p ${dir}\`` quotes `dir`.
 * Arrays expand to several quoted words; `Raw` values are inserted as they are.
 */
export function sh(strings: TemplateStringsArray, ...values: ShellValue[]): string {
  let out = strings[0] ?? "";
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? "");
  });
  return out;
}

/** A whole script: strict mode first, then one line per entry (empty entries dropped). */
export function script(lines: ReadonlyArray<string | false | undefined>): string {
  return ["set -eu", ...lines.filter((l): l is string => typeof l === "string" && l.length > 0)].join("\n") + "\n";
}

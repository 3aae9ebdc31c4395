// fast-check generators shared by the scripts tests (test support, not library code).
import fc from "fast-check";

/** Strings biased towards what breaks naive quoting: quotes, $(), backticks, newlines, … */
export const nasty = fc.string({
  unit: fc.oneof(
    {
      weight: 3,
      arbitrary: fc.constantFrom("'", '"', "$", "(", ")", "`", "\\", "\n", " ", ";", "|", "&", "*", "?", "~", "#", "!", "{", "}", "-", "%", "\t", "é", "💥"),
    },
    { weight: 2, arbitrary: fc.constantFrom("$(id)", "`id`", "'; rm -rf x; '", "${HOME}", "\\'", "$'\\n'") },
    { weight: 1, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }).filter((c) => c !== "\0") },
    { weight: 2, arbitrary: fc.constantFrom("a", "b", "0", "/", ".") },
  ),
  maxLength: 30,
});

/** Like `nasty`, but one line of printable text (owner, stack: validateLabel's domain). */
export const nastyLabel = nasty
  .map((s) => s.replace(/[\u0000-\u001f\u007f]/g, "_"))
  .filter((s) => s.length > 0 && s.length <= 100);

/** A directory name that needs quoting but is a valid path segment (no "/", no control chars). */
export const nastySegment = nastyLabel
  .map((s) => s.replace(/\//g, "_"))
  .filter((s) => s !== "." && s !== ".." && Buffer.byteLength(s) < 200);

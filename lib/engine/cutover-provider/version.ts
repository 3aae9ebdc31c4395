// The `cutover` plugin's version is the package's own: read from the nearest package.json up
// from this file, whether it runs built (dist/lib/…, an installed package) or from source (tests).
import * as fs from "node:fs";
import * as path from "node:path";

export function packageVersion(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const file = path.join(dir, "package.json");
    if (fs.existsSync(file)) return (JSON.parse(fs.readFileSync(file, "utf8")) as { version: string }).version;
    if (path.dirname(dir) === dir) throw new Error(`cutover: no package.json above ${__dirname}`);
  }
}

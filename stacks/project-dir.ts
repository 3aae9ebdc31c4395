// The checkout's root: the directory of Pulumi.yaml (stacks run from dist/stacks).
import * as path from "node:path";

export const projectDir = path.resolve(__dirname, "..", "..");

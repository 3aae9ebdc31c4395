#!/usr/bin/env node
// Entry point of the `cutover` provider plugin (provider.ts): the engine starts it and talks gRPC.
import * as provider from "@pulumi/pulumi/provider";
import { CutoverProvider } from "./provider";
import { packageVersion } from "./version";

provider.main(new CutoverProvider(packageVersion()), process.argv.slice(2)).catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : String(err));
  process.exit(1);
});

#!/usr/bin/env node
// Entry point of the `command` provider plugin: the engine starts it and talks gRPC.
import * as provider from "@pulumi/pulumi/provider";
import { CommandProvider } from "./provider";

provider.main(new CommandProvider(), process.argv.slice(2)).catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : String(err));
  process.exit(1);
});

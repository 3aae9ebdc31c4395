// The `cutover` plugin's provider: the HostState resource (host-state.ts), and the package's
// schema and component (lib/package) for programs in any Pulumi language. The component's code
// (the whole library) is loaded only when the engine asks for it: every `up` and `preview` of
// a TypeScript stack starts this plugin for HostState alone.
import type * as provider from "@pulumi/pulumi/provider";
import type * as pulumi from "@pulumi/pulumi";
import { HostStateProvider } from "./host-state";
import { DEPLOYMENT_TYPE, packageSchema } from "../../package/schema";

export class CutoverProvider extends HostStateProvider {
  async getSchema(): Promise<string> {
    return JSON.stringify(packageSchema(this.version));
  }

  async construct(name: string, type: string, inputs: pulumi.Inputs, options: pulumi.ComponentResourceOptions): Promise<provider.ConstructResult> {
    if (type !== DEPLOYMENT_TYPE) throw new Error(`cutover: unknown component type ${type} (this plugin constructs ${DEPLOYMENT_TYPE})`);
    const { constructDeployment } = require("../../package/deployment") as typeof import("../../package/deployment");
    return constructDeployment(name, inputs, options);
  }
}

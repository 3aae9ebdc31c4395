// One host's cycle in its batch: hidden from the load balancer, `current` switched to the
// release, checked, put back — one step, named by batch and host so previews show the order.
import * as pulumi from "../pulumi";
import { LocalCommand } from "./command";
import { stepCommand, StepArgs } from "./step-command";

export interface HostCycleArgs extends Omit<StepArgs, "job"> {
  after: pulumi.Resource[];
}

export class HostCycle extends pulumi.ComponentResource {
  readonly done: LocalCommand;

  constructor(name: string, args: HostCycleArgs, opts?: pulumi.ComponentResourceOptions) {
    super("cutover:deploy:HostCycle", name, {}, opts);
    const { after, ...step } = args;
    // Named by batch and host, so `pulumi preview --diff` shows the order. A new batch size
    // replaces these steps; the runner then finds each host already on the release and
    // leaves it alone.
    this.done = stepCommand(`${name}-cycle`, { ...step, job: "cycle" }, { parent: this, dependsOn: after });
    this.registerOutputs({});
  }
}

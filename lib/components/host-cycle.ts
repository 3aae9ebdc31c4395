// One host's cycle in its batch: hidden from the load balancer, `current` switched to the
// release, checked, put back — one step, named by batch and host so previews show the order.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { stepCommand, StepArgs } from "./step-command";

export interface HostCycleArgs extends Omit<StepArgs, "job"> {
  batch: number;
  after: pulumi.Resource[];
}

export class HostCycle extends pulumi.ComponentResource {
  readonly done: command.local.Command;

  constructor(name: string, args: HostCycleArgs, opts?: pulumi.ComponentResourceOptions) {
    super("cutover:deploy:HostCycle", name, {}, opts);
    const { batch: _batch, after, ...step } = args;
    // The command's name has no batch in it: a new batch size must not replace steps.
    this.done = stepCommand(`${step.key.split("/").pop()}-${step.host}-cycle`, { ...step, job: "cycle" }, { parent: this, dependsOn: after });
    this.registerOutputs({});
  }
}

// The generated SDK's Deployment (`cutover:index:Deployment`), not the library's classes: the
// hosts and their HAProxy come from a fleet stack's `inventory` output, the key from its
// `deployKey` (a secret); `app` holds the keys of a TypeScript stack's cutover:app block.
import * as pulumi from "@pulumi/pulumi";
import * as cutover from "@cutover/sdk";

const config = new pulumi.Config();
const fleet = new pulumi.StackReference("fleet", { name: config.require("fleetStack") });

const app = new cutover.Deployment("app", {
  inventory: fleet.requireOutput("inventory") as pulumi.Output<cutover.types.input.InventoryArgs>,
  sshPrivateKey: fleet.requireOutput("deployKey") as pulumi.Output<string>,
  app: {
    source: config.require("source"),
    version: config.require("version"),
    prepare: { linkedDirs: ["log"] },
    rollout: { batchSize: 1, smoke: { path: "/healthz" } },
  },
});

export const releaseId = app.releaseId;
export const rolloutPlan = app.rolloutPlan;

// A separate project that uses Cutover the way a user would: as an installed package.
// Never require a relative path into the Cutover repo here: the point is that the packed
// package (dist/lib, package.json "main") is enough on its own.
"use strict";
const path = require("node:path");
const pulumi = require("@pulumi/pulumi");
const { LocalFleet, Deployment, buildArtifact } = require("cutover");

const config = new pulumi.Config("consumer");
const stack = pulumi.getStack();

const fleet = new LocalFleet(stack, {
  subnet: "127.80.0",
  baseDir: "/var/lib/cutover/test-fleets",
  hosts: [
    { name: "web1", roles: ["web"] },
    { name: "web2", roles: ["web"] },
  ],
  service: {
    name: "app",
    // The sample app is plain Node.js: run it with the Node that runs this program.
    command: [process.execPath, "server.js"],
  },
});

const deployment = new Deployment("app", {
  hosts: fleet.hosts,
  artifact: buildArtifact({ sourceDir: config.require("appDir"), versionLabel: "1", outDir: config.require("outDir") }),
  deployer: "consumer-test",
  stack,
});

exports.releaseId = deployment.releaseId;
exports.hosts = fleet.hosts.map((h) => ({ name: h.name, address: h.app.address, port: h.app.port }));
// Where the modules actually came from, so the test can prove the package (not the repo's
// sources) was used and that Cutover and this program share one @pulumi/pulumi.
exports.resolved = {
  cutover: require.resolve("cutover"),
  pulumi: require.resolve("@pulumi/pulumi"),
  pulumiOfCutover: require.resolve("@pulumi/pulumi", { paths: [path.dirname(require.resolve("cutover"))] }),
};

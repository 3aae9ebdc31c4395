// The prod stack's graph on AWS, with `pulumi.runtime.setMocks` (the AWS provider plugin cannot
// be obtained here, so nothing below talks to AWS): the repo's own program (dist/stacks/index.js)
// with Pulumi.prod.yaml's config, as a preview. It asserts the wiring: security groups (SSH
// only from the bastion, the app port only from the ALB), user data, the target group's health
// check, hosts spread across AZs, and the same batches as dev from the same plan function.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createRequire } from "node:module";
import * as yaml from "js-yaml";
import * as pulumi from "@pulumi/pulumi";
import { repoRoot } from "./support/engine";
import { describeRollout, planRollout } from "../lib/plan";

interface Registered {
  type: string;
  name: string;
  id: string;
  inputs: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

const registered: Registered[] = [];
const hostKey = (name: string) => `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${Buffer.from(name).toString("base64").replace(/=/g, "")}`;
const deployPrivateKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nmock-deploy-key\n-----END OPENSSH PRIVATE KEY-----\n";
const appEnvironment = "DATABASE_URL=postgres://app:mock-db-password@db/app\n";
const cache = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-aws-prod-"));

const stackConfig = (stack: string) =>
  (yaml.load(fs.readFileSync(path.join(repoRoot, `Pulumi.${stack}.yaml`), "utf8")) as { config: Record<string, unknown> }).config;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
let program: Record<string, any>;
const byType = (type: string) => registered.filter((r) => r.type === type);
const one = (type: string, name: string) => {
  const r = registered.find((x) => x.type === type && x.name === name);
  if (!r) throw new Error(`no ${type} named ${name}; registered: ${registered.map((x) => `${x.type} ${x.name}`).join(", ")}`);
  return r;
};
const resolved = <T>(v: pulumi.Input<T>) => new Promise<T>((r) => pulumi.output(v).apply((x) => r(x as T)));

beforeAll(async () => {
  process.env.CUTOVER_CACHE = cache; // the artifact is still built for real, into a temp cache
  const config = Object.fromEntries(
    Object.entries(stackConfig("prod")).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
  );
  pulumi.runtime.setAllConfig(
    { ...config, "cutover:sshPrivateKey": deployPrivateKey, "cutover:appEnvironment": appEnvironment },
    ["cutover:sshPrivateKey", "cutover:appEnvironment"],
  );
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const id = `${args.name}-id`;
        registered.push({ type: args.type, name: args.name, id, inputs: args.inputs });
        const state: Record<string, unknown> = { ...args.inputs };
        if (args.type === "aws:ec2/instance:Instance") {
          Object.assign(state, { privateIp: args.inputs.privateIp ?? "10.40.200.1", publicIp: args.inputs.associatePublicIpAddress ? "198.51.100.7" : "" });
        }
        if (args.type.startsWith("aws:lb/")) Object.assign(state, { arn: `arn:aws:elasticloadbalancing:eu-west-1:123456789012:${args.name}`, dnsName: `${args.name}.elb.example` });
        if (args.type === "command:local:Command" && args.name.endsWith("-host-key")) state.stdout = `${hostKey(args.name)}\n`;
        return { id, state };
      },
      call: (args) => args.inputs,
    },
    "cutover",
    "prod",
    true,
  );
  // Loaded with Node's own require, so the program shares this file's @pulumi/pulumi (and mocks).
  program = createRequire(__filename)(path.join(repoRoot, "dist", "stacks", "index.js"));
  await program.releaseId;
  await pulumi.runtime.disconnect(); // every registration has reached the mocks
}, 60_000);

afterAll(() => fs.rmSync(cache, { recursive: true, force: true }));

describe("prod on AWS (mocks)", () => {
  it("lists hosts, bastion, ALB, listener, target group and per-host cycling", () => {
    const instances = byType("aws:ec2/instance:Instance").map((r) => r.name);
    expect(instances.sort()).toEqual(["prod-bastion", "prod-web1", "prod-web2", "prod-web3", "prod-worker1"]);
    expect(byType("aws:lb/loadBalancer:LoadBalancer").map((r) => r.inputs.loadBalancerType)).toEqual(["application"]);
    expect(byType("aws:lb/targetGroup:TargetGroup")).toHaveLength(1);
    expect(byType("aws:lb/listener:Listener")).toHaveLength(1);
    expect(byType("aws:lb/targetGroupAttachment:TargetGroupAttachment").map((r) => r.inputs.targetId).sort()).toEqual([
      "prod-web1-id",
      "prod-web2-id",
      "prod-web3-id",
    ]);
    const count = (t: string) => byType(t).length;
    console.log(
      `[aws-prod] preview with mocks: ${registered.length} resources; instances ${instances.join(", ")}; ` +
        `ALB ${count("aws:lb/loadBalancer:LoadBalancer")}, listener ${count("aws:lb/listener:Listener")}, target group ${count("aws:lb/targetGroup:TargetGroup")}, ` +
        `attachments ${count("aws:lb/targetGroupAttachment:TargetGroupAttachment")}, security groups ${count("aws:ec2/securityGroup:SecurityGroup")}; ` +
        `cycles ${byType("cutover:deploy:HostCycle").map((r) => r.name).join(", ")}`,
    );
    expect(byType("cutover:deploy:HostCycle").map((r) => r.name)).toEqual(["app-batch1-web1", "app-batch2-web2", "app-batch3-web3", "app-batch4-worker1"]);
  });

  it("cycles in the same batches as dev, from the same plan function", async () => {
    const dev = stackConfig("dev")["cutover:fleet"] as { hosts: Array<{ name: string; roles: string[] }> };
    const devPlan = describeRollout(planRollout(dev.hosts, "web", 1));
    expect(await program.rolloutPlan).toEqual(devPlan);
    expect(devPlan).toEqual([
      "batch 1/4 (hidden from the load balancer): web1",
      "batch 2/4 (hidden from the load balancer): web2",
      "batch 3/4 (hidden from the load balancer): web3",
      "batch 4/4: worker1",
    ]);
  });

  it("security groups: SSH to hosts only from the bastion, the app port only from the ALB", () => {
    const sg = (n: string) => one("aws:ec2/securityGroup:SecurityGroup", `prod-${n}`).inputs.ingress;
    expect(sg("hosts")).toEqual([
      expect.objectContaining({ protocol: "tcp", fromPort: 22, toPort: 22, securityGroups: ["prod-bastion-id"] }),
      expect.objectContaining({ protocol: "tcp", fromPort: 8080, toPort: 8080, securityGroups: ["prod-alb-id"] }),
    ]);
    for (const rule of sg("hosts")) expect(rule.cidrBlocks).toBeUndefined();
    expect(sg("bastion")).toEqual([expect.objectContaining({ fromPort: 22, toPort: 22, cidrBlocks: ["203.0.113.0/24"] })]);
    expect(sg("alb")).toEqual([expect.objectContaining({ fromPort: 80, toPort: 80, cidrBlocks: ["0.0.0.0/0"] })]);
    const instance = (n: string) => one("aws:ec2/instance:Instance", `prod-${n}`).inputs;
    for (const h of ["web1", "web2", "web3", "worker1"]) {
      expect(instance(h).vpcSecurityGroupIds).toEqual(["prod-hosts-id"]);
      expect(instance(h).associatePublicIpAddress).toBe(false);
      expect(instance(h).metadataOptions).toEqual({ httpTokens: "required" });
    }
    expect(instance("bastion").vpcSecurityGroupIds).toEqual(["prod-bastion-id"]);
    expect(instance("bastion").subnetId).toBe("subnet-0d00000000000000d");
  });

  it("spreads each role's hosts across the private subnets (AZs) at planned addresses", () => {
    const placed = ["web1", "web2", "web3", "worker1"].map((h) => {
      const i = one("aws:ec2/instance:Instance", `prod-${h}`).inputs;
      return [h, i.subnetId, i.privateIp];
    });
    expect(placed).toEqual([
      ["web1", "subnet-0a00000000000000a", "10.40.1.10"],
      ["web2", "subnet-0b00000000000000b", "10.40.2.10"],
      ["web3", "subnet-0c00000000000000c", "10.40.3.10"],
      ["worker1", "subnet-0a00000000000000a", "10.40.1.11"],
    ]);
  });

  it("user data: users, deploy root, systemd unit and sudo rule; a fresh host key on the console; no secret", () => {
    const userData = one("aws:ec2/instance:Instance", "prod-web1").inputs.userData as string;
    expect(userData.startsWith("#cloud-config\n")).toBe(true);
    const ci = JSON.parse(userData.slice("#cloud-config\n".length));
    expect(ci.users).toEqual([
      expect.objectContaining({ name: "cutover", lock_passwd: true, ssh_authorized_keys: [expect.stringMatching(/^ssh-ed25519 AAAA.* cutover-deploy@prod$/)] }),
      expect.objectContaining({ name: "app", system: true, shell: "/usr/sbin/nologin" }),
    ]);
    expect(ci.ssh_genkeytypes).toEqual(["ed25519"]);
    expect(ci.ssh_key_console_blacklist).toEqual([]);
    const unit = ci.write_files.find((f: { path: string }) => f.path === "/etc/systemd/system/app.service").content as string;
    for (const line of ["User=app", "WorkingDirectory=/srv/app/current", "EnvironmentFile=/srv/app/shared/app.env", "ExecStart=/usr/bin/node server.js", "Restart=on-failure", "StartLimitBurst=5"]) {
      expect(unit).toContain(`${line}\n`);
    }
    const sudoers = ci.write_files.find((f: { path: string }) => f.path === "/etc/sudoers.d/cutover-app");
    expect(sudoers).toMatchObject({ permissions: "0440", content: expect.stringContaining("cutover ALL=(root) NOPASSWD: /usr/bin/systemctl restart app.service,") });
    expect(ci.runcmd[0]).toEqual(["install", "-d", "-o", "cutover", "-g", "cutover", "-m", "0755", "/srv/app", "/srv/app/releases", "/srv/app/shared", "/srv/app/.cutover"]);
    for (const i of byType("aws:ec2/instance:Instance")) {
      expect(i.inputs.userData).not.toContain("mock-deploy-key");
      expect(i.inputs.userData).not.toContain("mock-db-password");
      expect(i.inputs.userDataReplaceOnChange).toBe(true);
    }
  });

  it("pins every host key read from the instance console; the environment file goes over SSH on stdin", async () => {
    for (const n of ["bastion", "web1", "worker1"]) {
      const cmd = one("command:local:Command", `prod-${n}-host-key`).inputs;
      expect(cmd.create).toContain(`aws ec2 get-console-output --region eu-west-1 --instance-id prod-${n}-id --latest`);
    }
    const env = one("command:remote:Command", "prod-web1-environment").inputs;
    // A Pulumi secret (the engine's secret signature around the value), never plain.
    expect(env.stdin).toEqual({ [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig, value: appEnvironment });
    expect(env.create).not.toContain("mock-db-password");
    expect(env.logging).toBe("none");
    expect(env.connection[pulumi.runtime.specialSigKey]).toBe(pulumi.runtime.specialSecretSig); // it holds the key
    expect(env.connection.value).toMatchObject({ host: "10.40.1.10", user: "cutover", hostKey: hostKey("prod-web1-host-key"), proxy: { host: "198.51.100.7", hostKey: hostKey("prod-bastion-host-key") } });
    expect(await resolved(program.gateway)).toBe("198.51.100.7:22");
  });

  it("target group: health check on /healthz, short deregistration delay; the listener forwards to it", () => {
    const tg = one("aws:lb/targetGroup:TargetGroup", "prod-web").inputs;
    expect(tg).toMatchObject({ port: 8080, protocol: "HTTP", targetType: "instance", deregistrationDelay: 10, vpcId: "vpc-0123456789abcdef0" });
    expect(tg.healthCheck).toEqual({ path: "/healthz", port: "8080", protocol: "HTTP", matcher: "200", interval: 5, timeout: 3, healthyThreshold: 2, unhealthyThreshold: 2 });
    const listener = one("aws:lb/listener:Listener", "prod-http").inputs;
    expect(listener).toMatchObject({ port: 80, protocol: "HTTP", defaultActions: [{ type: "forward", targetGroupArn: expect.stringContaining("prod-web") }] });
    expect(one("aws:lb/loadBalancer:LoadBalancer", "prod-alb").inputs).toMatchObject({
      subnets: ["subnet-0d00000000000000d", "subnet-0e00000000000000e"],
      securityGroups: ["prod-alb-id"],
    });
  });

  it("publishes how `cutover status` reaches each host: through the bastion, host keys pinned; the key only as a secret", async () => {
    const ssh = (await resolved(program.ssh)) as { hosts: Record<string, { address: string; port: number; hostKey: string; user: string; gateway?: { address: string; hostKey: string } }> };
    expect(Object.keys(ssh.hosts).sort()).toEqual(["web1", "web2", "web3", "worker1"]);
    for (const [name, h] of Object.entries(ssh.hosts)) {
      expect(h).toMatchObject({ port: 22, user: "cutover", hostKey: hostKey(`prod-${name}-host-key`) });
      expect(h.gateway).toMatchObject({ address: "198.51.100.7", hostKey: hostKey("prod-bastion-host-key") });
    }
    expect(JSON.stringify(ssh)).not.toContain("PRIVATE KEY");
    expect(await pulumi.isSecret(await program.deployKey)).toBe(true);
  });
});

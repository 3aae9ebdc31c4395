/**
 * The prod fleet on AWS, in an existing VPC: EC2 app hosts per role spread across private
 * subnets (one per AZ), a bastion in a public subnet as the SSH gateway, and an ALB whose
 * target group fronts the load-balanced role. Security groups: SSH to the bastion only from
 * `sshFrom`, SSH to hosts only from the bastion, the app port only from the ALB. Each instance
 * boots with cloud-init (users, deploy root, systemd unit, sudo rule, fresh host key) and its
 * host key is read from the console and pinned (ec2-host-key.ts). Private addresses are
 * planned (fixed per host), so hosts stay plain `Host`s the rest of Cutover can plan with.
 */
import * as pulumi from "../../pulumi";
// Types only at load: @pulumi/aws is an optional peer dependency, loaded when an Ec2Fleet is
// made (the library's index exports this module, and local or ssh stacks need no AWS).
import type * as aws from "@pulumi/aws";
import { LocalCommand, RemoteCommand } from "../../components/command";
import { Host, SshEndpoint, connectionOf } from "../../components/host";
import { LoadBalancerMembership } from "../../components/load-balancer";
import { awsTargetGroupMembership } from "../lb/aws-target-group";
import { renderCloudInit } from "./cloud-init";
import { hostKeyScript } from "./ec2-host-key";
import { CutoverInputError, validateHostName, validatePort, validateRoleName } from "../../plan";
import { systemdSudoRestartCommand, systemdSudoStopCommand, writeSecretFileScript } from "../../scripts/services";

export interface Ec2SubnetSpec {
  id: string;
  /** IPv4 CIDR, e.g. "10.0.1.0/24": host addresses are planned inside it. */
  cidr: string;
}

export interface Ec2HostSpec {
  name: string;
  roles: string[];
  instanceType?: string;
}

export interface Ec2FleetArgs {
  region: string;
  vpcId: string;
  /** Private subnets (one per AZ) for the app hosts; each role's hosts go round-robin across them. */
  privateSubnets: Ec2SubnetSpec[];
  /** Public subnets (two AZs at least) for the ALB; the bastion goes in the first. */
  publicSubnets: string[];
  ami: string;
  instanceType?: string;
  hosts: Ec2HostSpec[];
  /** CIDRs allowed to SSH to the bastion (the deploying machines). */
  sshFrom: string[];
  deployUser?: string;
  deployPublicKey: string;
  /** The deploy key's private half (a secret). */
  privateKey: pulumi.Input<string>;
  app: {
    /** systemd unit name. */
    name: string;
    /** argv run in `<root>/current`. */
    command: string[];
    user?: string;
    root?: string;
    port?: number;
    /** KEY=value lines (a secret), written 0600 over SSH as the unit's EnvironmentFile. */
    environment?: pulumi.Input<string>;
  };
  lbRole?: string;
  healthPath?: string;
  /** Seconds the ALB keeps a deregistered target draining (default 10: a hide waits for it). */
  deregistrationDelaySeconds?: number;
}

export interface PlannedEc2Host extends Ec2HostSpec {
  subnet: Ec2SubnetSpec;
  privateIp: string;
}

/** Where each host goes: its role's k-th host in subnet k mod n, at a fixed address (.10 + i). */
export function planEc2Hosts(hosts: readonly Ec2HostSpec[], subnets: readonly Ec2SubnetSpec[]): PlannedEc2Host[] {
  if (subnets.length === 0) throw new CutoverInputError("privateSubnets", subnets, "give at least one private subnet (one per AZ for redundancy)");
  const perRole = new Map<string, number>();
  const perSubnet = new Map<string, number>();
  return hosts.map((h, i) => {
    validateHostName(h.name, `hosts[${i}].name`);
    h.roles.forEach((r, j) => validateRoleName(r, `hosts[${i}].roles[${j}]`));
    const role = h.roles[0] ?? "";
    const k = perRole.get(role) ?? 0;
    perRole.set(role, k + 1);
    const subnet = subnets[k % subnets.length];
    const n = perSubnet.get(subnet.id) ?? 0;
    perSubnet.set(subnet.id, n + 1);
    return { ...h, subnet, privateIp: addressIn(subnet.cidr, 10 + n, `privateSubnets (${subnet.id})`) };
  });
}

function addressIn(cidr: string, offset: number, argument: string): string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  const fix = 'give the subnet\'s IPv4 CIDR, e.g. "10.0.1.0/24" (at most /27)';
  if (!m) throw new CutoverInputError(argument, cidr, fix);
  const bits = Number(m[5]);
  if (bits > 27 || m.slice(1, 5).some((o) => Number(o) > 255)) throw new CutoverInputError(argument, cidr, fix);
  const base = m.slice(1, 5).reduce((acc, o) => acc * 256 + Number(o), 0);
  const size = 2 ** (32 - bits);
  if (offset >= size - 1) throw new CutoverInputError(argument, cidr, "the subnet is too small for its hosts; use a larger one or more subnets");
  const ip = (base - (base % size)) + offset;
  return [24, 16, 8, 0].map((s) => (ip >>> s) & 255).join(".");
}

export class Ec2Fleet extends pulumi.ComponentResource {
  readonly hosts: Host[];
  readonly bastion: Host;
  readonly loadBalancer: LoadBalancerMembership;
  readonly lbUrl: pulumi.Output<string>;
  readonly targetGroupArn: pulumi.Output<string>;

  constructor(name: string, args: Ec2FleetArgs, opts?: pulumi.ComponentResourceOptions) {
    super("cutover:aws:Ec2Fleet", name, {}, opts);
    const awsLib = require("@pulumi/aws") as typeof aws;
    const planned = planEc2Hosts(args.hosts, args.privateSubnets);
    if (args.publicSubnets.length < 2) throw new CutoverInputError("publicSubnets", args.publicSubnets, "an ALB needs public subnets in at least two AZs");
    const lbRole = args.lbRole ?? "web";
    const deployUser = args.deployUser ?? "cutover";
    const appUser = args.app.user ?? "app";
    const root = args.app.root ?? "/srv/app";
    const port = validatePort(args.app.port ?? 8080, "app.port");
    const parent = { parent: this };
    const tags = (n: string, extra: Record<string, string> = {}) => ({ Name: `${name}-${n}`, "cutover:fleet": name, ...extra });

    const sg = (n: string, description: string, ingress: aws.types.input.ec2.SecurityGroupIngress[]) =>
      new awsLib.ec2.SecurityGroup(
        `${name}-${n}`,
        {
          vpcId: args.vpcId,
          description,
          ingress,
          egress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"], description: "outbound" }],
          tags: tags(n),
        },
        parent,
      );
    const bastionSg = sg("bastion", "Cutover bastion: SSH from the deploying machines", [
      { protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: args.sshFrom, description: "SSH from the deploying machines" },
    ]);
    const albSg = sg("alb", "Cutover ALB: HTTP from anywhere", [
      { protocol: "tcp", fromPort: 80, toPort: 80, cidrBlocks: ["0.0.0.0/0"], description: "HTTP" },
    ]);
    const hostSg = sg("hosts", "Cutover app hosts: SSH from the bastion, the app port from the ALB", [
      { protocol: "tcp", fromPort: 22, toPort: 22, securityGroups: [bastionSg.id], description: "SSH from the bastion only" },
      { protocol: "tcp", fromPort: port, toPort: port, securityGroups: [albSg.id], description: "app port from the ALB only" },
    ]);

    const instance = (n: string, a: { subnetId: string; privateIp?: string; public: boolean; sg: aws.ec2.SecurityGroup; userData: string; type?: string; role: string }) =>
      new awsLib.ec2.Instance(
        `${name}-${n}`,
        {
          ami: args.ami,
          instanceType: a.type ?? args.instanceType ?? "t3.small",
          subnetId: a.subnetId,
          privateIp: a.privateIp,
          associatePublicIpAddress: a.public,
          vpcSecurityGroupIds: [a.sg.id],
          userData: a.userData,
          // A changed bootstrap is a new machine (and a new host key), never a half-applied one.
          userDataReplaceOnChange: true,
          metadataOptions: { httpTokens: "required" },
          tags: tags(n, { "cutover:role": a.role }),
        },
        parent,
      );
    const pinnedKey = (n: string, i: aws.ec2.Instance) =>
      new LocalCommand(
        `${name}-${n}-host-key`,
        { create: i.id.apply((id) => hostKeyScript({ region: args.region, instanceId: id })), triggers: [i.id], addPreviousOutputInEnv: false },
        { ...parent, dependsOn: [i] },
      ).stdout.apply((s) => s.trim());

    const bastionInstance = instance("bastion", {
      subnetId: args.publicSubnets[0],
      public: true,
      sg: bastionSg,
      userData: renderCloudInit({ deployUser, deployPublicKey: args.deployPublicKey }),
      type: "t3.micro",
      role: "bastion",
    });
    const gateway: SshEndpoint = {
      address: bastionInstance.publicIp,
      port: 22,
      user: deployUser,
      privateKey: pulumi.secret(args.privateKey),
      hostKey: pinnedKey("bastion", bastionInstance),
    };
    this.bastion = { name: "bastion", roles: [], ssh: gateway, root: "/nonexistent", restartCommand: "true", app: { address: "bastion", port: 22 }, ready: [bastionInstance] };

    const envFile = `${root}/shared/${args.app.name}.env`;
    const userData = renderCloudInit({
      deployUser,
      deployPublicKey: args.deployPublicKey,
      app: {
        user: appUser,
        root,
        unit: {
          name: args.app.name,
          user: appUser,
          workingDirectory: `${root}/current`,
          execStart: args.app.command,
          environmentFile: args.app.environment === undefined ? undefined : envFile,
        },
      },
    });

    const targetGroup = new awsLib.lb.TargetGroup(
      `${name}-${lbRole}`,
      {
        vpcId: args.vpcId,
        port,
        protocol: "HTTP",
        targetType: "instance",
        deregistrationDelay: args.deregistrationDelaySeconds ?? 10,
        healthCheck: {
          path: args.healthPath ?? "/healthz",
          port: String(port),
          protocol: "HTTP",
          matcher: "200",
          interval: 5,
          timeout: 3,
          healthyThreshold: 2,
          unhealthyThreshold: 2,
        },
        tags: tags(lbRole),
      },
      parent,
    );
    const alb = new awsLib.lb.LoadBalancer(
      `${name}-alb`,
      { loadBalancerType: "application", internal: false, subnets: args.publicSubnets, securityGroups: [albSg.id], tags: tags("alb") },
      parent,
    );
    new awsLib.lb.Listener(
      `${name}-http`,
      { loadBalancerArn: alb.arn, port: 80, protocol: "HTTP", defaultActions: [{ type: "forward", targetGroupArn: targetGroup.arn }] },
      parent,
    );

    const targets: Record<string, pulumi.Output<{ id: string; port: number }>> = {};
    this.hosts = planned.map((p) => {
      const i = instance(p.name, { subnetId: p.subnet.id, privateIp: p.privateIp, public: false, sg: hostSg, userData, type: p.instanceType, role: p.roles.join(",") });
      const host: Host = {
        name: p.name,
        roles: p.roles,
        ssh: { address: p.privateIp, port: 22, user: deployUser, privateKey: pulumi.secret(args.privateKey), hostKey: pinnedKey(p.name, i), gateway },
        root,
        restartCommand: systemdSudoRestartCommand(args.app.name),
        stopCommand: systemdSudoStopCommand(args.app.name),
        app: { address: p.privateIp, port },
        ready: [i],
      };
      if (args.app.environment !== undefined) {
        // The secret goes over SSH on stdin: never in user data, a command line or a log.
        host.ready.push(
          new RemoteCommand(
            `${name}-${p.name}-environment`,
            { connection: connectionOf(host), create: writeSecretFileScript(envFile, deployUser), stdin: pulumi.secret(args.app.environment), logging: "none", addPreviousOutputInEnv: false },
            { ...parent, dependsOn: [i] },
          ),
        );
      }
      if (p.roles.includes(lbRole)) {
        new awsLib.lb.TargetGroupAttachment(`${name}-${p.name}-target`, { targetGroupArn: targetGroup.arn, targetId: i.id, port }, parent);
        targets[p.name] = i.id.apply((id) => ({ id, port }));
      }
      return host;
    });
    if (!Object.keys(targets).length) throw new CutoverInputError("lbRole", lbRole, `no host has this role; give hosts the role "${lbRole}" or set lbRole`);

    this.targetGroupArn = targetGroup.arn;
    this.lbUrl = pulumi.interpolate`http://${alb.dnsName}`;
    this.loadBalancer = awsTargetGroupMembership({
      region: args.region,
      targetGroupArn: targetGroup.arn,
      role: lbRole,
      targets,
      // Above the deregistration delay, with room for the API's own lag.
      drainSeconds: (args.deregistrationDelaySeconds ?? 10) + 50,
      upSeconds: 120,
    });
    this.registerOutputs({ lbUrl: this.lbUrl, targetGroupArn: this.targetGroupArn });
  }
}

// The pure parts of the EC2 provider: where hosts go (AZs, addresses), the cloud-init text,
// and the host-key script, run for real here against a stand-in `aws` CLI that prints a
// console output the way EC2 returns it.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { planEc2Hosts } from "./ec2";
import { renderCloudInit } from "./cloud-init";
import { hostKeyScript } from "./ec2-host-key";

const subnets = [
  { id: "subnet-a", cidr: "10.0.1.0/24" },
  { id: "subnet-b", cidr: "10.0.2.0/24" },
];

describe("EC2 host placement", () => {
  it("spreads each role's hosts across subnets, at fixed addresses", () => {
    const hosts = [
      { name: "web1", roles: ["web"] },
      { name: "web2", roles: ["web"] },
      { name: "web3", roles: ["web"] },
      { name: "worker1", roles: ["worker"] },
      { name: "worker2", roles: ["worker"] },
    ];
    expect(planEc2Hosts(hosts, subnets).map((h) => [h.name, h.subnet.id, h.privateIp])).toEqual([
      ["web1", "subnet-a", "10.0.1.10"],
      ["web2", "subnet-b", "10.0.2.10"],
      ["web3", "subnet-a", "10.0.1.11"],
      ["worker1", "subnet-a", "10.0.1.12"],
      ["worker2", "subnet-b", "10.0.2.11"],
    ]);
  });

  it("rejects what cannot be placed, naming the argument", () => {
    expect(() => planEc2Hosts([{ name: "web1", roles: ["web"] }], [])).toThrow(/^privateSubnets \[\] is invalid: give at least one private subnet/);
    expect(() => planEc2Hosts([{ name: "web1", roles: ["web"] }], [{ id: "s", cidr: "10.0.1.0" }])).toThrow(/^privateSubnets \(s\) "10.0.1.0" is invalid/);
    expect(() => planEc2Hosts([{ name: "Web 1", roles: ["web"] }], subnets)).toThrow(/^hosts\[0\]\.name "Web 1" is invalid/);
  });
});

describe("cloud-init", () => {
  it("a bastion gets the deploy account only", () => {
    const text = renderCloudInit({ deployUser: "cutover", deployPublicKey: "ssh-ed25519 AAAAC3Nza k" });
    expect(JSON.parse(text.replace("#cloud-config\n", ""))).toEqual({
      users: [{ name: "cutover", shell: "/bin/bash", lock_passwd: true, ssh_authorized_keys: ["ssh-ed25519 AAAAC3Nza k"] }],
      ssh_pwauth: false,
      disable_root: true,
      ssh_deletekeys: true,
      ssh_genkeytypes: ["ed25519"],
      ssh_key_console_blacklist: [],
    });
  });

  it("refuses a private key where the public one belongs, and a root app user", () => {
    expect(() => renderCloudInit({ deployUser: "cutover", deployPublicKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nx" })).toThrow(/^deployPublicKey is not one authorized_keys line/);
    const unit = { name: "app", user: "root", workingDirectory: "/srv/app/current", execStart: ["/usr/bin/node", "server.js"] };
    expect(() => renderCloudInit({ deployUser: "cutover", deployPublicKey: "ssh-ed25519 AAAA", app: { user: "root", root: "/srv/app", unit } })).toThrow(/^app\.user "root" is invalid/);
  });
});

describe("host key from the instance console", () => {
  let dir: string;
  const console = (key: string) =>
    [
      "[   12.3] cloud-init[612]: Cloud-init v. 23.1 running 'modules:final'",
      "-----BEGIN SSH HOST KEY FINGERPRINTS-----",
      "256 SHA256:abc root@ip-10-0-1-10 (ED25519)",
      "-----END SSH HOST KEY FINGERPRINTS-----",
      "-----BEGIN SSH HOST KEY KEYS-----",
      `${key} root@ip-10-0-1-10`,
      "-----END SSH HOST KEY KEYS-----",
      "ssh-ed25519 AAAAnotthisoneoutsidethemarkers x",
    ].join("\n");

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "cutover-aws-cli-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A stand-in `aws` that logs its arguments and prints `output` as the console output. */
  function fakeAws(output: string): Record<string, string> {
    fs.writeFileSync(path.join(dir, "output"), output);
    fs.writeFileSync(path.join(dir, "aws"), `#!/bin/sh\necho "$*" >> ${dir}/calls\ncat ${dir}/output\n`, { mode: 0o755 });
    return { ...process.env, PATH: `${dir}:${process.env.PATH}` } as Record<string, string>;
  }

  it("prints the ed25519 key between cloud-init's markers", () => {
    const env = fakeAws(console("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOfWeb1"));
    const r = spawnSync("sh", ["-c", hostKeyScript({ region: "eu-west-1", instanceId: "i-0abc" })], { env, encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOfWeb1\n");
    expect(fs.readFileSync(path.join(dir, "calls"), "utf8")).toBe(
      "ec2 get-console-output --region eu-west-1 --instance-id i-0abc --latest --query Output --output text\n",
    );
  });

  it("fails after its bound when the key never appears, saying what to do", () => {
    const env = fakeAws("[    1.0] booting\n");
    const r = spawnSync("sh", ["-c", hostKeyScript({ region: "eu-west-1", instanceId: "i-0abc", timeoutSeconds: 0 })], { env, encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^cutover: no SSH host key on the console of i-0abc after 0 s .*run `pulumi up` again\n$/);
  });
});

/**
 * cloud-init user data for Cutover's EC2 hosts and bastion (pure; rendered as JSON, which is
 * YAML, after the `#cloud-config` line, so no value needs YAML escaping):
 * - the deploy account (SSH with Cutover's public key only, no password) and, on app hosts,
 *   the non-root app account, the deploy root (releases/, shared/) owned by the deploy account,
 *   the systemd unit and the deploy account's one sudo rule (checked with visudo, else removed);
 * - a fresh ed25519 host key, printed to the instance console between cloud-init's
 *   `-----BEGIN SSH HOST KEY KEYS-----` markers: the console comes from the hypervisor, not
 *   the network, so reading the key there and pinning it is safe (see ec2-host-key.ts).
 * No secret ever goes into user data (EC2 lets anyone with DescribeInstanceAttribute read it):
 * the app's environment file is written over SSH, from stdin, after boot.
 */
import { renderSudoRule, renderSystemdUnit, SystemdUnit } from "../../scripts/services";
import { validateAbsolutePath, validateNonRootUser, validateUnixUser } from "../../plan";

export interface CloudInitArgs {
  deployUser: string;
  /** Cutover's deploy public key (authorized_keys line). */
  deployPublicKey: string;
  /** App hosts only: the app account, deploy root and service. */
  app?: { user: string; root: string; unit: SystemdUnit };
}

export function renderCloudInit(a: CloudInitArgs): string {
  const deployUser = validateUnixUser(a.deployUser, "deployUser");
  if (!/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/]+=*( [^\n]*)?$/.test(a.deployPublicKey.trim())) {
    throw new Error(`deployPublicKey is not one authorized_keys line ("ssh-ed25519 AAAA…"): give the public half of the deploy key`);
  }
  const users: object[] = [
    { name: deployUser, shell: "/bin/bash", lock_passwd: true, ssh_authorized_keys: [a.deployPublicKey.trim()] },
  ];
  const writeFiles: object[] = [];
  const runcmd: Array<string[]> = [];
  if (a.app) {
    const appUser = validateNonRootUser(a.app.user, "app.user");
    const root = validateAbsolutePath(a.app.root, "app.root");
    const service = a.app.unit.name;
    const sudoers = `/etc/sudoers.d/cutover-${service}`;
    users.push({ name: appUser, system: true, shell: "/usr/sbin/nologin", lock_passwd: true });
    writeFiles.push(
      { path: `/etc/systemd/system/${service}.service`, permissions: "0644", owner: "root:root", content: renderSystemdUnit(a.app.unit) },
      { path: sudoers, permissions: "0440", owner: "root:root", content: renderSudoRule({ user: deployUser, service }) },
    );
    runcmd.push(
      ["install", "-d", "-o", deployUser, "-g", deployUser, "-m", "0755", root, `${root}/releases`, `${root}/shared`, `${root}/.cutover`],
      ["sh", "-c", `visudo -c -q -f ${sudoers} || rm -f ${sudoers}`],
      ["systemctl", "daemon-reload"],
      // Enabled, not started: it starts with the first release Cutover switches to.
      ["systemctl", "enable", `${service}.service`],
    );
  }
  const config = {
    users,
    ssh_pwauth: false,
    disable_root: true,
    // One host key type, generated on first boot and printed to the console for pinning.
    ssh_deletekeys: true,
    ssh_genkeytypes: ["ed25519"],
    ssh_key_console_blacklist: [],
    ...(writeFiles.length ? { write_files: writeFiles } : {}),
    ...(runcmd.length ? { runcmd } : {}),
  };
  return `#cloud-config\n${JSON.stringify(config, null, 2)}\n`;
}

// How `cutover status` and `cutover unlock` (and a person) reach a stack's hosts: each host's
// SSH endpoint with its pinned host key, user and gateway. Plain values: the deploy key is a
// separate secret output (`deployKey`).
import * as pulumi from "../lib/pulumi";
import { Host, SshEndpoint } from "../lib/components/host";

const endpoint = (e: SshEndpoint) => pulumi.all([e.address, e.port, e.hostKey, e.user]).apply(([address, port, hostKey, user]) => ({ address, port, hostKey, user }));

/** The `ssh` output: `{ hosts: { <name>: { address, port, hostKey, user, gateway? } } }`. */
export function sshAccess(hosts: Host[]) {
  const entries = hosts.map((h) =>
    pulumi.all([endpoint(h.ssh), h.ssh.gateway ? endpoint(h.ssh.gateway) : undefined]).apply(([e, gateway]) => [h.name, gateway ? { ...e, gateway } : e] as const),
  );
  return pulumi.all(entries).apply((all) => ({ hosts: Object.fromEntries(all) }));
}

/**
 * Pinning an EC2 instance's SSH host key without ever trusting the network for it: cloud-init
 * prints the host keys it generated to the instance console, between
 * `-----BEGIN SSH HOST KEY KEYS-----` and `-----END SSH HOST KEY KEYS-----`; the console
 * output reaches us through the EC2 API (`aws ec2 get-console-output`), not through the
 * instance's network. This script, run on the deploying machine by a local command, polls it
 * (bounded) and prints the ed25519 key, which becomes the host's pinned `hostKey`.
 * It needs the AWS CLI on the deploying machine, with the same credentials as Pulumi.
 * cloud-init prints the keys in its final stage after `runcmd` (keys-to-console follows
 * scripts-user), so once the key is there the users, deploy root and unit exist too.
 */
import { sh, script, raw } from "../../scripts/quote";

export interface HostKeyScriptArgs {
  region: string;
  instanceId: string;
  /** Longest wait for the key to appear on the console (default 900 s: first boots are slow). */
  timeoutSeconds?: number;
  pollSeconds?: number;
}

/** The key between cloud-init's markers, from a console output text; undefined if absent. */
export const EXTRACT_KEY = `sed -n '/-----BEGIN SSH HOST KEY KEYS-----/,/-----END SSH HOST KEY KEYS-----/p' | grep '^ssh-ed25519 ' | head -n 1 | cut -d' ' -f1,2`;

export function hostKeyScript(a: HostKeyScriptArgs): string {
  const timeout = a.timeoutSeconds ?? 900;
  const poll = a.pollSeconds ?? 15;
  return script([
    `deadline=$(( $(date +%s) + ${timeout} ))`,
    "while :; do",
    sh`  key=$(aws ec2 get-console-output --region ${a.region} --instance-id ${a.instanceId} --latest --query Output --output text 2>/dev/null | ${raw(EXTRACT_KEY)} || true)`,
    '  if [ -n "$key" ]; then printf \'%s\\n\' "$key"; exit 0; fi',
    '  if [ "$(date +%s)" -ge "$deadline" ]; then',
    sh`    echo ${`cutover: no SSH host key on the console of ${a.instanceId} after ${timeout} s (cloud-init prints it at first boot): check the instance's boot in the EC2 console, then run \`pulumi up\` again`} >&2`,
    "    exit 1",
    "  fi",
    `  sleep ${poll}`,
    "done",
  ]);
}

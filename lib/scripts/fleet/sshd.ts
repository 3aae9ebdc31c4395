// sshd for one local-fleet host: its own address, host key, authorized keys and pid file.
// Rendered as text and written by the host's files step; values are config directives, not
// shell, so they are validated (no whitespace/newlines) rather than quoted.

export interface SshdConfigArgs {
  listenAddress: string;
  port: number;
  hostKeyPath: string;
  authorizedKeysPath: string;
  pidFile: string;
  allowUser: string;
  /** Only the gateway forwards connections (to the fleet's hosts, nowhere else). */
  gateway: boolean;
  /** OpenSSH's stock MaxStartups 10:30:100 and MaxSessions 10, as on a real server. */
  stockLimits?: boolean;
}

function directiveValue(name: string, value: string | number): string {
  const text = String(value);
  if (!/^[^\s"#]+$/.test(text)) {
    throw new Error(`sshd ${name} ${JSON.stringify(text)} is invalid: use a value without spaces, quotes or #`);
  }
  return text;
}

export function renderSshdConfig(a: SshdConfigArgs): string {
  const v = directiveValue;
  return [
    "# Written by Cutover's local fleet; changes are overwritten on the next `pulumi up`.",
    `ListenAddress ${v("ListenAddress", a.listenAddress)}:${v("Port", a.port)}`,
    `HostKey ${v("HostKey", a.hostKeyPath)}`,
    `PidFile ${v("PidFile", a.pidFile)}`,
    `AuthorizedKeysFile ${v("AuthorizedKeysFile", a.authorizedKeysPath)}`,
    `AllowUsers ${v("AllowUsers", a.allowUser)}`,
    "PubkeyAuthentication yes",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PermitRootLogin no",
    "UsePAM no",
    "StrictModes yes",
    "PermitTTY no",
    "X11Forwarding no",
    "PrintMotd no",
    "PermitUserEnvironment no",
    // Raised by default so tests of other things never meet them; `stockLimits` keeps
    // OpenSSH's defaults, for the tests that must behave as on a real server.
    a.stockLimits ? "MaxStartups 10:30:100" : "MaxStartups 64:30:128",
    a.stockLimits ? "MaxSessions 10" : "MaxSessions 32",
    // VERBOSE on the gateway logs each forwarded channel, which is how a test proves the
    // fleet's hosts are reached through it.
    `LogLevel ${a.gateway ? "DEBUG1" : "VERBOSE"}`,
    `AllowTcpForwarding ${a.gateway ? "local" : "no"}`,
    "AllowAgentForwarding no",
    "GatewayPorts no",
    // CopyToRemote needs SFTP; the app hosts offer it, the gateway only forwards.
    a.gateway ? "" : "Subsystem sftp internal-sftp",
    "",
  ]
    .filter((line, i, all) => line !== "" || i === all.length - 1)
    .join("\n");
}

/**
 * The gateway's authorized_keys line: the deploy key may only open tunnels to the fleet's
 * hosts — no shell, no other destination (what a production bastion should allow).
 */
export function gatewayAuthorizedKey(publicKey: string, destinations: ReadonlyArray<{ address: string; port: number }>): string {
  const key = publicKey.trim();
  if (!/^ssh-[a-z0-9-]+ [A-Za-z0-9+/=]+( [^\n"]*)?$/.test(key)) {
    throw new Error("deploy public key is not in authorized_keys format (expected `ssh-ed25519 AAAA…`)");
  }
  const opens = destinations.map((d) => `permitopen="${d.address}:${d.port}"`).join(",");
  return `restrict,port-forwarding,${opens},command="/bin/false" ${key}\n`;
}

// HAProxy in front of a role's hosts: HTTP health checks on /healthz, and an admin runtime
// socket the deploy user drives to hide and unhide servers during a rollout.

export interface HaproxyServer {
  name: string;
  address: string;
  port: number;
  /** Starts in maint: a host's standby slot, which serves only once a deploy moves traffic to it. */
  disabled?: boolean;
}

export interface HaproxyConfigArgs {
  bindAddress: string;
  bindPort: number;
  backend: string;
  servers: ReadonlyArray<HaproxyServer>;
  healthPath: string;
  adminSocket: string;
  /** Owner of the admin socket: the deploy user. */
  adminUser: string;
  pidFile: string;
  /** Drop privileges to this user once the sockets are bound. */
  runAs?: string;
}

const token = /^[A-Za-z0-9_./:-]+$/;

function checked(name: string, value: string | number): string {
  const text = String(value);
  if (!token.test(text)) {
    throw new Error(`haproxy ${name} ${JSON.stringify(text)} is invalid: use letters, digits and _ . / : - only`);
  }
  return text;
}

export function renderHaproxyConfig(a: HaproxyConfigArgs): string {
  if (a.servers.length === 0) {
    throw new Error(`haproxy backend ${a.backend} has no servers: give the load balancer at least one host of its role`);
  }
  const c = checked;
  return [
    "# Written by Cutover's local fleet; validated with `haproxy -c` before every (re)load.",
    "global",
    `  stats socket ${c("adminSocket", a.adminSocket)} mode 600 level admin user ${c("adminUser", a.adminUser)}`,
    "  stats timeout 30s",
    `  pidfile ${c("pidFile", a.pidFile)}`,
    ...(a.runAs ? [`  user ${c("runAs", a.runAs)}`] : []),
    "  maxconn 4096",
    "",
    "defaults",
    "  mode http",
    "  timeout connect 2s",
    "  timeout client 30s",
    "  timeout server 30s",
    // A request whose server went away before answering is retried on another server.
    "  retries 3",
    "  option redispatch",
    "  option http-server-close",
    "",
    `frontend ${c("backend", a.backend)}_front`,
    `  bind ${c("bindAddress", a.bindAddress)}:${c("bindPort", a.bindPort)}`,
    `  default_backend ${a.backend}`,
    "",
    `backend ${a.backend}`,
    "  balance roundrobin",
    `  option httpchk GET ${c("healthPath", a.healthPath)}`,
    "  http-check expect status 200",
    "  default-server inter 500ms fall 2 rise 2",
    ...a.servers.map(
      (s) => `  server ${c("server name", s.name)} ${c("server address", s.address)}:${c("server port", s.port)} check${s.disabled ? " disabled" : ""}`,
    ),
    "",
  ].join("\n");
}

/**
 * Existing servers (`cutover:provider: ssh`): hosts Cutover did not create, listed as plain
 * data — in stack config, or published by another stack (a fleet stack's `inventory` output,
 * read through a StackReference). Every host is reached over SSH with a pinned host key,
 * optionally through a named gateway; the private key is passed separately, as a secret.
 * An existing HAProxy is reached the same way, through its admin socket on its own host.
 *
 * `parseInventory` checks everything before any resource exists, naming the field and the fix.
 */
import * as pulumi from "../../pulumi";
import { Host, SshEndpoint } from "../../components/host";
import {
  CutoverInputError,
  validateAbsolutePath,
  validateHostName,
  validatePort,
  validateRoleName,
  validateServiceName,
  validateUnixUser,
  validateCommand,
} from "../../plan";
import { supervisorRestartCommand, supervisorStopCommand, systemdSudoRestartCommand, systemdSudoStopCommand } from "../../scripts/services";

export interface InventoryEndpointSpec {
  address: string;
  /** Default 22. */
  port?: number;
  /** Default: the inventory's `user`. */
  user?: string;
  /** The server's public host key, authorized_keys format (`ssh-ed25519 AAAA…`). Required: never unpinned. */
  hostKey: string;
  /** Name of an entry of `gateways` to reach this endpoint through. */
  gateway?: string;
}

/** How the app is restarted after a switch (and stopped: an overlap slot after its warm time). */
export type InventoryServiceSpec =
  | { systemd: { name: string } }
  | { supervisord: { conf: string; name: string } }
  /** aliveCommand: fails once the app has died (see Host.aliveCommand). */
  | { restartCommand: string; aliveCommand?: string; stopCommand?: string };

/** A host's second slot of the app, for the overlap strategy: its own port, service and HAProxy server. */
export interface InventoryStandbySpec {
  appPort: number;
  service: InventoryServiceSpec;
  /** Its server in the HAProxy backend; default `<host>-b`. */
  server?: string;
}

export interface InventoryHostSpec extends InventoryEndpointSpec {
  name: string;
  roles: string[];
  /** Deploy root; default: the inventory's `root`. */
  root?: string;
  /** Where the app listens for the balancer and the smoke test; default address and `appPort`. */
  appAddress?: string;
  appPort?: number;
  /** Default: the inventory's `service`. */
  service?: InventoryServiceSpec;
  /** Default: the inventory's `standby`. */
  standby?: InventoryStandbySpec;
}

export interface InventorySpec {
  /** Default SSH user (the deploy account). */
  user?: string;
  root?: string;
  appPort?: number;
  service?: InventoryServiceSpec;
  /** Every host's standby slot, unless a host gives its own. */
  standby?: InventoryStandbySpec;
  gateways?: Record<string, InventoryEndpointSpec>;
  hosts: InventoryHostSpec[];
  /** An existing HAProxy whose backend servers are named after the hosts. */
  loadBalancer?: {
    /** Its own endpoint (address, hostKey, …), or `host`: the name of one of `hosts` it runs on. */
    haproxy: Partial<InventoryEndpointSpec> & {
      host?: string;
      /** Host name in messages (default "lb"). */
      name?: string;
      adminSocket: string;
      backend: string;
      /** Role fronted by the backend (default: the backend's name). */
      role?: string;
      /** Where clients reach it, for outputs only. */
      url?: string;
    };
  };
}

export interface Inventory {
  hosts: Host[];
  gateways: Record<string, Host["ssh"]>;
  loadBalancer?: { host: Host; adminSocket: string; backend: string; role: string; url?: string };
}

const ADDRESS = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$|^[0-9a-fA-F:]+$/;
const HOST_KEY = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/]+=*( .*)?$/;

function validateAddress(value: unknown, argument: string): string {
  if (typeof value !== "string" || !ADDRESS.test(value)) {
    throw new CutoverInputError(argument, value, "give the server's IP address or DNS name, e.g. \"10.0.1.12\"");
  }
  return value;
}

export function validateHostKey(value: unknown, argument: string): string {
  if (typeof value !== "string" || !HOST_KEY.test(value.trim())) {
    throw new CutoverInputError(
      argument,
      value,
      "pin the server's public host key in authorized_keys format (\"ssh-ed25519 AAAA…\"), e.g. from `ssh-keyscan -t ed25519 <address>` checked against the server's console; host keys are never skipped",
    );
  }
  return value.trim().split(/\s+/).slice(0, 2).join(" ");
}

export function restartCommandOf(service: InventoryServiceSpec | undefined, argument: string): string {
  if (!service) throw new CutoverInputError(argument, service, "say how the app restarts: { systemd: { name } }, { supervisord: { conf, name } } or { restartCommand }");
  if ("systemd" in service) return systemdSudoRestartCommand(validateServiceName(service.systemd?.name, `${argument}.systemd.name`));
  if ("supervisord" in service) {
    return supervisorRestartCommand(
      validateAbsolutePath(service.supervisord?.conf, `${argument}.supervisord.conf`),
      validateServiceName(service.supervisord?.name, `${argument}.supervisord.name`),
    );
  }
  return validateCommand(service.restartCommand, `${argument}.restartCommand`);
}

function aliveCommandOf(service: InventoryServiceSpec | undefined, argument: string): { aliveCommand?: string } {
  if (!service || !("restartCommand" in service) || service.aliveCommand === undefined) return {};
  return { aliveCommand: validateCommand(service.aliveCommand, `${argument}.aliveCommand`) };
}

function stopCommandOf(service: InventoryServiceSpec | undefined, argument: string): { stopCommand?: string } {
  if (!service) return {};
  if ("systemd" in service) return { stopCommand: systemdSudoStopCommand(validateServiceName(service.systemd?.name, `${argument}.systemd.name`)) };
  if ("supervisord" in service) {
    return { stopCommand: supervisorStopCommand(validateAbsolutePath(service.supervisord?.conf, `${argument}.supervisord.conf`), validateServiceName(service.supervisord?.name, `${argument}.supervisord.name`)) };
  }
  return service.stopCommand === undefined ? {} : { stopCommand: validateCommand(service.stopCommand, `${argument}.stopCommand`) };
}

function standbyOf(name: string, spec: InventoryStandbySpec | undefined, argument: string): Pick<Host, "standby"> {
  if (spec === undefined) return {};
  const stop = stopCommandOf(spec.service, `${argument}.service`).stopCommand;
  if (stop === undefined) throw new CutoverInputError(`${argument}.service.stopCommand`, undefined, "say how the standby slot stops (its warm time over): add stopCommand next to restartCommand");
  return {
    standby: {
      port: validatePort(spec.appPort, `${argument}.appPort`),
      restartCommand: restartCommandOf(spec.service, `${argument}.service`),
      stopCommand: stop,
      ...aliveCommandOf(spec.service, `${argument}.service`),
      server: validateServiceName(spec.server ?? `${name}-b`, `${argument}.server`),
    },
  };
}

/** Turns an inventory into Hosts; `privateKey` (a secret) is the deploy key for every endpoint. */
export function parseInventory(spec: InventorySpec, privateKey: pulumi.Input<string>, argument = "inventory"): Inventory {
  if (!spec || !Array.isArray(spec.hosts) || spec.hosts.length === 0) {
    throw new CutoverInputError(`${argument}.hosts`, spec?.hosts, "list at least one host: { name, roles, address, hostKey }");
  }
  const endpoint = (e: InventoryEndpointSpec, where: string): SshEndpoint => ({
    address: validateAddress(e.address, `${where}.address`),
    port: validatePort(e.port ?? 22, `${where}.port`),
    user: validateUnixUser(e.user ?? spec.user, `${where}.user`),
    hostKey: validateHostKey(e.hostKey, `${where}.hostKey`),
    privateKey: pulumi.secret(privateKey),
  });
  const gateways: Record<string, SshEndpoint> = {};
  for (const [name, g] of Object.entries(spec.gateways ?? {})) {
    if (g.gateway !== undefined) throw new CutoverInputError(`${argument}.gateways.${name}.gateway`, g.gateway, "a gateway is reached directly; chains of gateways are not supported");
    gateways[name] = endpoint(g, `${argument}.gateways.${name}`);
  }
  const ssh = (e: InventoryEndpointSpec, where: string): Host["ssh"] => {
    if (e.gateway === undefined) return endpoint(e, where);
    const gateway = gateways[e.gateway];
    if (!gateway) {
      throw new CutoverInputError(`${where}.gateway`, e.gateway, `name one of the gateways (${Object.keys(gateways).join(", ") || "none are listed under gateways"})`);
    }
    return { ...endpoint(e, where), gateway };
  };

  const seen = new Set<string>();
  const hosts = spec.hosts.map((h, i): Host => {
    const where = `${argument}.hosts[${i}]`;
    const name = validateHostName(h.name, `${where}.name`);
    if (seen.has(name)) throw new CutoverInputError(`${where}.name`, name, "host names must be unique; rename one of them");
    seen.add(name);
    if (!Array.isArray(h.roles) || h.roles.length === 0) throw new CutoverInputError(`${where}.roles`, h.roles, "give the host at least one role, e.g. [\"web\"]");
    const e = ssh(h, where);
    return {
      name,
      roles: h.roles.map((r, j) => validateRoleName(r, `${where}.roles[${j}]`)),
      ssh: e,
      root: validateAbsolutePath(h.root ?? spec.root, `${where}.root`),
      restartCommand: restartCommandOf(h.service ?? spec.service, `${where}.service`),
      ...aliveCommandOf(h.service ?? spec.service, `${where}.service`),
      ...stopCommandOf(h.service ?? spec.service, `${where}.service`),
      ...standbyOf(name, h.standby ?? spec.standby, h.standby ? `${where}.standby` : `${argument}.standby`),
      app: {
        address: validateAddress(h.appAddress ?? h.address, `${where}.appAddress`),
        port: validatePort(h.appPort ?? spec.appPort, `${where}.appPort`),
      },
      ready: [],
    };
  });

  const lb = spec.loadBalancer?.haproxy;
  if (spec.loadBalancer && !lb) throw new CutoverInputError(`${argument}.loadBalancer`, spec.loadBalancer, "describe the balancer as { haproxy: { address, hostKey, adminSocket, backend } }");
  let loadBalancer: Inventory["loadBalancer"];
  if (lb) {
    const where = `${argument}.loadBalancer.haproxy`;
    const backend = validateServiceName(lb.backend, `${where}.backend`);
    const role = validateRoleName(lb.role ?? backend, `${where}.role`);
    if (!hosts.some((h) => h.roles.includes(role))) {
      throw new CutoverInputError(`${where}.role`, role, `no host has this role (roles: ${[...new Set(hosts.flatMap((h) => h.roles))].join(", ")}); fix the role or the hosts`);
    }
    const adminSocket = validateAbsolutePath(lb.adminSocket, `${where}.adminSocket`);
    let host: Host;
    if (lb.host !== undefined) {
      const on = hosts.find((h) => h.name === lb.host);
      if (!on) throw new CutoverInputError(`${where}.host`, lb.host, `name one of the hosts (${hosts.map((h) => h.name).join(", ")}), or give HAProxy's own address and hostKey instead`);
      host = on;
    } else {
      const name = validateHostName(lb.name ?? "lb", `${where}.name`);
      const address = validateAddress(lb.address, `${where}.address`);
      host = { name, roles: [], ssh: ssh({ ...lb, address, hostKey: lb.hostKey! }, where), root: "/nonexistent", restartCommand: "true", app: { address, port: 1 }, ready: [] };
    }
    loadBalancer = {
      host,
      adminSocket,
      backend,
      role,
      url: lb.url,
    };
  }
  return { hosts, gateways, loadBalancer };
}

/** A host's service as inventory data: the commands themselves. */
function serviceSpec(h: { restartCommand: string; aliveCommand?: string; stopCommand?: string }): InventoryServiceSpec {
  return { restartCommand: h.restartCommand, ...(h.aliveCommand ? { aliveCommand: h.aliveCommand } : {}), ...(h.stopCommand ? { stopCommand: h.stopCommand } : {}) };
}

/**
 * The other direction: what a fleet stack publishes (its `inventory` output) so that app
 * stacks can deploy to its hosts through a StackReference. Everything but the private key,
 * which the fleet stack exports on its own, as a secret. Hosts name their gateway by the key
 * of `gateways` whose endpoint they use.
 */
export function publishInventory(a: {
  hosts: Host[];
  gateways: Record<string, Host>;
  loadBalancer?: { host: Host; adminSocket: string; backend: string; url?: string };
}): pulumi.Output<InventorySpec> {
  const gatewayName = (h: Host) => Object.entries(a.gateways).find(([, g]) => g.ssh === h.ssh.gateway || g.ssh.address === h.ssh.gateway?.address)?.[0];
  const endpoint = (h: Host) => ({
    address: h.ssh.address,
    port: h.ssh.port,
    user: h.ssh.user,
    hostKey: h.ssh.hostKey,
    ...(h.ssh.gateway ? { gateway: gatewayName(h) } : {}),
  });
  const lb = a.loadBalancer;
  return pulumi.output({
    gateways: Object.fromEntries(Object.entries(a.gateways).map(([name, g]) => [name, endpoint(g)])),
    hosts: a.hosts.map((h) => ({
      name: h.name,
      roles: h.roles,
      ...endpoint(h),
      root: h.root,
      appAddress: h.app.address,
      appPort: h.app.port,
      service: serviceSpec(h),
      ...(h.standby
        ? { standby: { appPort: h.standby.port, server: h.standby.server, service: serviceSpec({ restartCommand: h.standby.restartCommand, aliveCommand: h.standby.aliveCommand, stopCommand: h.standby.stopCommand }) } }
        : {}),
    })),
    ...(lb
      ? { loadBalancer: { haproxy: { name: lb.host.name, ...endpoint(lb.host), adminSocket: lb.adminSocket, backend: lb.backend, ...(lb.url ? { url: lb.url } : {}) } } }
      : {}),
  }) as pulumi.Output<InventorySpec>;
}

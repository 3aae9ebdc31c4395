// What the rest of Cutover needs from a server, whatever created it (the local fleet, EC2).
import * as pulumi from "../pulumi";
import type * as command from "@pulumi/command";
import type { HostContext, StandbySlot } from "../runner/context";

/** One SSH endpoint. `hostKey` is pinned: a host presenting another key is refused. */
export interface SshEndpoint {
  address: pulumi.Input<string>;
  port: pulumi.Input<number>;
  user: pulumi.Input<string>;
  /** Private key (OpenSSH or PEM). Keep it a Pulumi secret. */
  privateKey: pulumi.Input<string>;
  /** The host's public key in authorized_keys format, e.g. `ssh-ed25519 AAAA…`. */
  hostKey: pulumi.Input<string>;
}

export interface Host {
  /** Logical name, unique in the fleet; used in resource names and every error message. */
  name: string;
  roles: string[];
  ssh: SshEndpoint & { gateway?: SshEndpoint };
  /** Deploy root on the host: releases/, shared/, current, .cutover/. */
  root: string;
  /** Shell line that restarts the app through the host's service manager. */
  restartCommand: string;
  /**
   * Shell line that fails (saying why on stderr) once the app has died, e.g. crashed at start.
   * With it, the restart need not wait for the service to count as started: the check after
   * it polls the app's own readiness and stops at once when this fails. Without it, a release
   * that never answers fails only at the check's deadline.
   */
  aliveCommand?: string;
  /** Shell line that stops the app (the overlap strategy stops a slot once its warm time is over). */
  stopCommand?: string;
  /** A second slot of the app on this host, for the overlap strategy. */
  standby?: StandbySlot;
  /** Where the load balancer (and the smoke test on the host) reaches the app. */
  app: { address: string; port: number };
  /** Resources that must exist before anything runs on the host. */
  ready: pulumi.Resource[];
}

/** The pulumi-command connection for a host, through its gateway when it has one. */
export function connectionOf(host: Host): command.types.input.remote.ConnectionArgs {
  const hop = (e: SshEndpoint) => ({
    host: e.address,
    port: e.port,
    user: e.user,
    privateKey: pulumi.secret(e.privateKey),
    hostKey: e.hostKey,
    dialErrorLimit: 5,
    perDialTimeout: 10,
  });
  const { gateway, ...direct } = host.ssh;
  return gateway ? { ...hop(direct), proxy: hop(gateway) } : hop(direct);
}

/** The host as the runner sees it, resolved at deploy time (a secret: it holds the key). */
export function hostContextOf(h: Host): pulumi.Output<HostContext> {
  return pulumi
    .output(h.ssh)
    .apply((ssh) => ({ name: h.name, roles: h.roles, root: h.root, restartCommand: h.restartCommand, aliveCommand: h.aliveCommand, stopCommand: h.stopCommand, standby: h.standby, app: h.app, ssh }));
}

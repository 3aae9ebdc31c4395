// The embedded local fleet: a gateway, a load balancer (HAProxy) and N app hosts, each an
// sshd on its own loopback address with its own host key, deploy root and supervisord.
// Everything the rest of Cutover sees is a `Host` reached over SSH through the gateway,
// exactly as a production fleet behind a bastion.
import * as pulumi from "../../../pulumi";
import { LocalCommand, RemoteCommand } from "../../../components/command";
import { Host, connectionOf } from "../../../components/host";
import { raw, script, sh } from "../../../scripts/quote";
import { createFleetBase, removeFleetBase } from "../../../scripts/fleet/machine";
import { gatewayAuthorizedKey, renderSshdConfig } from "../../../scripts/fleet/sshd";
import { renderSupervisordConfig } from "../../../scripts/fleet/supervisord";
import { renderHaproxyConfig } from "../../../scripts/fleet/haproxy-config";
import { renderAppProgram } from "../../../scripts/fleet/program";
import { supervisordRpcAliveCommand, supervisordRpcRestartCommand, supervisordRpcStopCommand } from "../../../scripts/supervisord-rpc";
import { LocalMachine } from "./machine";
import { FleetPlan, LocalFleetHostSpec, LocalFleetSpec, MachinePlan, planFleet } from "./plan";

export interface AppServiceSpec {
  /** supervisord program name, e.g. "app". */
  name: string;
  /** Command and arguments, run inside the deploy root's `current` release. */
  command: string[];
  /** Extra environment; HOST and PORT are set per host. */
  environment?: Record<string, string>;
  /** Start the service with supervisord (false until a release exists is fine: it retries). */
  autostart?: boolean;
}

export interface LocalFleetArgs {
  hosts: LocalFleetHostSpec[];
  /** First three octets of a 127.0.0.0/8 block; default 127.77.0. */
  subnet?: string;
  sshPort?: number;
  appPort?: number;
  lbPort?: number;
  lbRole?: string;
  /** Where the fleet's machines live on this computer; default /var/lib/cutover/fleets. */
  baseDir?: string;
  deployUser?: string;
  appUser?: string;
  /** The app each host runs under supervisord. */
  service: AppServiceSpec;
  /** Every sshd of the fleet keeps OpenSSH's stock MaxStartups/MaxSessions (real-server behaviour). */
  stockSshdLimits?: boolean;
  /**
   * A second slot of the app on every host (program `<name>-b` on appPort + 1, server
   * `<host>-b` in HAProxy, in maint until a deploy moves traffic to it): what the `overlap`
   * strategy deploys through.
   */
  standby?: boolean;
}

export interface LocalLoadBalancer {
  /** The LB machine, reached over SSH like any host, where the runtime API lives. */
  host: Host;
  url: string;
  backend: string;
  adminSocket: string;
}

const bash = ["/bin/bash", "-c"];

/** The fleet's layout with every default filled in; planFleet(localFleetSpec(…)) refuses bad arguments. */
export function localFleetSpec(name: string, args: Omit<LocalFleetArgs, "service">): LocalFleetSpec {
  return {
    name,
    subnet: args.subnet ?? "127.77.0",
    hosts: args.hosts,
    sshPort: args.sshPort ?? 2222,
    appPort: args.appPort ?? 8080,
    lbPort: args.lbPort ?? 8080,
    lbRole: args.lbRole ?? "web",
    baseDir: args.baseDir ?? "/var/lib/cutover/fleets",
    deployUser: args.deployUser ?? "cutover",
    appUser: args.appUser ?? "cutover-app",
  };
}

export class LocalFleet extends pulumi.ComponentResource {
  readonly hosts: Host[];
  readonly gateway: Host;
  readonly loadBalancer: LocalLoadBalancer;
  /** What each host answered over SSH through the gateway: `<user> <host> <address:port>`. */
  readonly reachable: pulumi.Output<Record<string, string>>;
  readonly plan: FleetPlan;

  constructor(name: string, args: LocalFleetArgs, opts?: pulumi.ComponentResourceOptions) {
    const spec = localFleetSpec(name, args);
    const plan = planFleet(spec); // throws, naming the argument, before anything is created (this component too)
    super("cutover:fleet:LocalFleet", name, {}, opts);
    this.plan = plan;

    const usersArgs = { baseDir: spec.baseDir, fleetDir: plan.dir, deployUser: spec.deployUser, appUser: spec.appUser };
    const base = new LocalCommand(
      `${name}-base`,
      { interpreter: bash, create: createFleetBase(usersArgs), delete: removeFleetBase(usersArgs), addPreviousOutputInEnv: false },
      { parent: this },
    );

    // The deploy key exists only in Pulumi's state, as a secret; `logging: none` keeps it out
    // of the engine's logs too.
    const keyMarker = "#cutover-public-key";
    const deployKey = new LocalCommand(
      `${name}-deploy-key`,
      {
        interpreter: bash,
        create: script([
          'd=$(mktemp -d); trap \'rm -rf "$d"\' EXIT',
          sh`ssh-keygen -q -t ed25519 -N '' -C ${`cutover-deploy@${name}`} -f "$d/key"`,
          'cat "$d/key"',
          sh`echo ${keyMarker}`,
          'cat "$d/key.pub"',
        ]),
        logging: "none",
        addPreviousOutputInEnv: false,
      },
      { parent: this, additionalSecretOutputs: ["stdout"] },
    );
    const privateKey = pulumi.secret(deployKey.stdout.apply((s) => s.split(keyMarker)[0].trim() + "\n"));
    const publicKey = pulumi.unsecret(deployKey.stdout.apply((s) => s.split(keyMarker)[1].trim()));

    const sshdFor = (m: MachinePlan, gateway: boolean) =>
      renderSshdConfig({
        listenAddress: m.address,
        port: spec.sshPort,
        hostKeyPath: m.hostKey,
        authorizedKeysPath: m.authorizedKeys,
        pidFile: m.sshdPid,
        allowUser: spec.deployUser,
        gateway,
        stockLimits: args.stockSshdLimits ?? false,
      });
    const machineOpts = { parent: this, dependsOn: [base] };

    const reachableThroughGateway = [plan.lb, ...plan.hosts].map((m) => ({ address: m.address, port: spec.sshPort }));
    const gatewayMachine = new LocalMachine(
      `${name}-gateway`,
      {
        plan: plan.gateway,
        label: `${name}/gateway`,
        sshdConfig: sshdFor(plan.gateway, true),
        authorizedKeys: publicKey.apply((k) => gatewayAuthorizedKey(k, reachableThroughGateway)),
        files: {},
        daemons: [],
      },
      machineOpts,
    );
    const gatewayEndpoint = {
      address: plan.gateway.address,
      port: spec.sshPort,
      user: spec.deployUser,
      privateKey,
      hostKey: gatewayMachine.hostKey,
    };
    this.gateway = {
      name: "gateway",
      roles: [],
      ssh: gatewayEndpoint,
      root: plan.gateway.dir,
      restartCommand: "true",
      app: { address: plan.gateway.address, port: spec.appPort },
      ready: gatewayMachine.ready,
    };

    const hostOf = (m: MachinePlan, machine: LocalMachine, restartCommand: string, aliveCommand?: string): Host => ({
      name: m.name,
      roles: m.roles,
      ssh: {
        address: m.address,
        port: spec.sshPort,
        user: spec.deployUser,
        privateKey,
        hostKey: machine.hostKey,
        gateway: gatewayEndpoint,
      },
      root: m.root,
      restartCommand,
      aliveCommand,
      app: { address: m.address, port: spec.appPort },
      ready: [...gatewayMachine.ready, ...machine.ready],
    });

    // App hosts: sshd + supervisord running the app as the app user.
    this.hosts = plan.hosts.map((m) => {
      const conf = `${m.supervisorDir}/supervisord.conf`;
      const socket = `${m.supervisorDir}/supervisor.sock`;
      const supervisordConfig = renderSupervisordConfig({
        dir: m.supervisorDir,
        socketPath: socket,
        socketOwner: `${spec.deployUser}:${spec.deployUser}`,
        pidFile: `${m.supervisorDir}/supervisord.pid`,
        logFile: `${m.supervisorDir}/supervisord.log`,
        includeGlob: `${m.supervisorDir}/conf.d/*.conf`,
      });
      const programOf = (name: string, port: number, autostart: boolean) =>
        renderAppProgram({
          name,
          command: args.service.command,
          // Both slots start from `current`: a slot started after a swap runs the new release,
          // the other keeps the one it started with (scripts/standby.ts).
          directory: `${m.root}/current`,
          user: spec.appUser,
          environment: { ...(args.service.environment ?? {}), HOST: m.address, PORT: String(port) },
          logDir: m.supervisorDir,
          autostart,
        });
      const program = programOf(args.service.name, spec.appPort, args.service.autostart ?? true);
      const standbyName = `${args.service.name}-b`;
      const standbyProgram = args.standby ? programOf(standbyName, spec.appPort + 1, false) : "";
      const machine = new LocalMachine(
        `${name}-${m.name}`,
        {
          plan: m,
          label: `${name}/${m.name}`,
          sshdConfig: sshdFor(m, false),
          authorizedKeys: publicKey,
          files: {
            [conf]: supervisordConfig,
            [`${m.supervisorDir}/conf.d/${args.service.name}.conf`]: program,
            ...(args.standby ? { [`${m.supervisorDir}/conf.d/${standbyName}.conf`]: standbyProgram } : {}),
            [`${m.dir}/identity`]: m.name,
          },
          root: { deployUser: spec.deployUser, appUser: spec.appUser },
          daemons: [
            {
              name: "supervisord",
              pidFile: `${m.supervisorDir}/supervisord.pid`,
              configPath: conf,
              config: supervisordConfig + program + standbyProgram,
              start: ["/usr/bin/supervisord", "-c", conf],
              // Only programs whose section changed are restarted.
              reload: ["/usr/bin/supervisorctl", "-c", conf, "update"],
              logFile: `${m.supervisorDir}/supervisord.log`,
            },
          ],
        },
        machineOpts,
      );
      // Over supervisord's socket rather than supervisorctl: no Python start per restart,
      // which is on every host's time out of rotation; the restart returns once the app is
      // spawned and the check polls its readiness, stopping at once if supervisord reports
      // it dead (supervisord-rpc.ts).
      const host = hostOf(m, machine, supervisordRpcRestartCommand(socket, args.service.name), supervisordRpcAliveCommand(socket, args.service.name));
      if (!args.standby) return host;
      return {
        ...host,
        stopCommand: supervisordRpcStopCommand(socket, args.service.name),
        standby: {
          port: spec.appPort + 1,
          restartCommand: supervisordRpcRestartCommand(socket, standbyName),
          stopCommand: supervisordRpcStopCommand(socket, standbyName),
          aliveCommand: supervisordRpcAliveCommand(socket, standbyName),
          server: `${m.name}-b`,
        },
      };
    });

    // The load balancer: sshd + HAProxy fronting the lb role's hosts, health-checked.
    const lb = plan.lb;
    const haproxyCfg = `${lb.haproxyDir}/haproxy.cfg`;
    const haproxyPid = `${lb.haproxyDir}/haproxy.pid`;
    const adminSocket = `${lb.haproxyDir}/admin.sock`;
    const backend = spec.lbRole;
    const haproxyConfig = renderHaproxyConfig({
      bindAddress: lb.address,
      bindPort: spec.lbPort,
      backend,
      servers: plan.hosts
        .filter((h) => h.roles.includes(spec.lbRole))
        .flatMap((h) => [
          { name: h.name, address: h.address, port: spec.appPort },
          ...(args.standby ? [{ name: `${h.name}-b`, address: h.address, port: spec.appPort + 1, disabled: true }] : []),
        ]),
      healthPath: "/healthz",
      adminSocket,
      adminUser: spec.deployUser,
      pidFile: haproxyPid,
      // Debian's haproxy package creates this unprivileged user.
      runAs: "haproxy",
    });
    const lbMachine = new LocalMachine(
      `${name}-lb`,
      {
        plan: lb,
        label: `${name}/lb`,
        sshdConfig: sshdFor(lb, false),
        authorizedKeys: publicKey,
        files: { [haproxyCfg]: haproxyConfig, [`${lb.dir}/identity`]: "lb" },
        daemons: [
          {
            name: "haproxy",
            pidFile: haproxyPid,
            configPath: haproxyCfg,
            config: haproxyConfig,
            check: ["/usr/sbin/haproxy", "-c", "-q", "-f", haproxyCfg],
            start: ["/usr/sbin/haproxy", "-D", "-p", haproxyPid, "-f", haproxyCfg],
            // A new process takes over the listeners; the old one finishes its requests.
            reload: ["/usr/sbin/haproxy", "-D", "-p", haproxyPid, "-f", haproxyCfg, "-sf", raw('"$pid"')],
          },
        ],
      },
      machineOpts,
    );
    this.loadBalancer = {
      host: hostOf(lb, lbMachine, "true"),
      url: `http://${lb.address}:${spec.lbPort}`,
      backend,
      adminSocket,
    };

    // First contact with every machine behind the gateway: proves the SSH path, pinned host
    // keys and the deploy user. Runs once; an unchanged `up` runs nothing.
    const identities = new Map([...plan.hosts, plan.lb].map((m) => [m.name, `${m.dir}/identity`]));
    const answers = [...this.hosts, this.loadBalancer.host].map((h) => {
      const reached = new RemoteCommand(
        `${name}-${h.name}-reachable`,
        {
          connection: connectionOf(h),
          // SSH_CONNECTION's 3rd and 4th fields: the address and port whose sshd answered.
          create: sh`echo "$(id -un) $(cat ${identities.get(h.name) ?? ""}) $(echo "$SSH_CONNECTION" | cut -d' ' -f3,4 | tr ' ' :)"`,
          addPreviousOutputInEnv: false,
        },
        { parent: this, dependsOn: h.ready },
      );
      // Deploys wait for this answer, not only for sshd's pid file: on a loaded machine a
      // host's first prepare was refused ("Connection refused") a moment before its sshd
      // answered this very command. A new array: the command above depends on the old one.
      h.ready = [...h.ready, reached];
      return reached.stdout.apply((s) => [h.name, s.trim()] as const);
    });
    this.reachable = pulumi.all(answers).apply((pairs) => Object.fromEntries(pairs));
    this.registerOutputs({ reachable: this.reachable, lbUrl: this.loadBalancer.url });
  }
}

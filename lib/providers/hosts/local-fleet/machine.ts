// One machine of the local fleet: its files (configs, host key, deploy root) and daemons,
// each a local command so `pulumi up` creates them and `pulumi destroy` removes them.
import * as crypto from "node:crypto";
import * as pulumi from "../../../pulumi";
import { LocalCommand } from "../../../components/command";
import { raw, Word } from "../../../scripts/quote";
import { startDaemon, stopDaemon } from "../../../scripts/fleet/daemon";
import { removeMachineFiles, writeMachineFiles } from "../../../scripts/fleet/machine";
import { daemonEpoch } from "./liveness";
import { MachinePlan } from "./plan";

export interface DaemonSpec {
  /** Short name: sshd, supervisord, haproxy. */
  name: string;
  pidFile: string;
  configPath: string;
  /** The config text whose change reloads the daemon. */
  config: string;
  check?: Word[];
  start: Word[];
  reload: Word[];
  logFile?: string;
}

export interface LocalMachineArgs {
  plan: MachinePlan;
  /** Fleet-unique label for messages and the host key comment, e.g. "demo/web1". */
  label: string;
  sshdConfig: string;
  authorizedKeys: pulumi.Input<string>;
  /** Extra config files: path → content. */
  files: Record<string, string>;
  root?: { deployUser: string; appUser: string };
  /** Daemons other than sshd, started after it. */
  daemons: DaemonSpec[];
}

const bash = ["/bin/bash", "-c"];

export const hashOf = (text: string) => crypto.createHash("sha256").update(text).digest("hex").slice(0, 16);

export class LocalMachine extends pulumi.ComponentResource {
  /** The machine's SSH host key, `ssh-ed25519 AAAA…`, to pin in connections. */
  readonly hostKey: pulumi.Output<string>;
  /** Resources after which the machine accepts SSH and runs its daemons. */
  readonly ready: pulumi.Resource[];

  constructor(name: string, args: LocalMachineArgs, opts?: pulumi.ComponentResourceOptions) {
    super("cutover:fleet:LocalMachine", name, {}, opts);
    const p = args.plan;
    const fileVars: Record<string, string> = {};
    const environment: Record<string, pulumi.Input<string>> = {
      SSHD_CONFIG: args.sshdConfig,
      AUTHORIZED_KEYS: args.authorizedKeys,
    };
    Object.entries(args.files).forEach(([path, content], i) => {
      fileVars[path] = `CONFIG_FILE_${i}`;
      environment[`CONFIG_FILE_${i}`] = content;
    });

    const write = writeMachineFiles({
      label: args.label,
      dir: p.dir,
      sshDir: p.sshDir,
      sshdConfig: p.sshdConfig,
      hostKey: p.hostKey,
      authorizedKeys: p.authorizedKeys,
      root: args.root ? { path: p.root, ...args.root } : undefined,
      files: fileVars,
    });
    // Update reruns the same idempotent script: configs are rewritten, the host key and
    // everything under the deploy root are kept.
    const files = new LocalCommand(
      `${name}-files`,
      {
        interpreter: bash,
        create: write,
        update: write,
        delete: removeMachineFiles(p.dir),
        environment,
        addPreviousOutputInEnv: false,
      },
      { parent: this },
    );
    this.hostKey = files.stdout.apply((s) => s.trim());

    const sshd: DaemonSpec = {
      name: "sshd",
      pidFile: p.sshdPid,
      configPath: p.sshdConfig,
      config: args.sshdConfig,
      check: ["/usr/sbin/sshd", "-t", "-f", p.sshdConfig],
      start: ["/usr/sbin/sshd", "-f", p.sshdConfig, "-E", p.sshdLog],
      // sshd re-executes itself on SIGHUP and re-reads its config; open sessions stay.
      reload: ["kill", "-HUP", raw('"$pid"')],
      logFile: p.sshdLog,
    };
    const ready: pulumi.Resource[] = [];
    let previous: pulumi.Resource = files;
    for (const d of [sshd, ...args.daemons]) {
      const epochFile = `${d.pidFile}.epoch`;
      const daemonArgs = {
        label: `${args.label} ${d.name}`,
        pidFile: d.pidFile,
        configPath: d.configPath,
        configHash: hashOf(d.config),
        check: d.check,
        start: d.start,
        reload: d.reload,
        logFile: d.logFile,
        epochFile,
      };
      const start = startDaemon(daemonArgs);
      const daemon = new LocalCommand(
        `${name}-${d.name}`,
        {
          interpreter: bash,
          create: start,
          update: start,
          delete: stopDaemon(daemonArgs),
          environment: { EPOCH: String(daemonEpoch({ pidFile: d.pidFile, configPath: d.configPath, epochFile })) },
          addPreviousOutputInEnv: false,
        },
        { parent: this, dependsOn: [previous] },
      );
      ready.push(daemon);
      previous = daemon;
    }
    this.ready = ready;
    this.registerOutputs({ hostKey: this.hostKey });
  }
}

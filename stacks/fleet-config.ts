// The `cutover:fleet` config block: the embedded local fleet of the dev stack. Read only by
// stacks/index.ts.
import type { LocalFleetHostSpec } from "../lib/providers/hosts/local-fleet";
import type { Keys } from "../lib/config/app-config";

export interface FleetConfig {
  subnet?: string;
  sshPort?: number;
  appPort?: number;
  lbPort?: number;
  baseDir?: string;
  /** The role the fleet's HAProxy fronts (default "web"). */
  lbRole?: string;
  /** The accounts that deploy (SSH) and run the app (defaults "cutover" and "cutover-app"). */
  deployUser?: string;
  appUser?: string;
  hosts: LocalFleetHostSpec[];
  /** Extra environment for the app on every host (e.g. START_DELAY_MS to model a slow boot). */
  appEnvironment?: Record<string, string>;
  /** Every sshd keeps OpenSSH's stock MaxStartups/MaxSessions, as on a real server. */
  stockSshdLimits?: boolean;
  /** A standby slot per host (rollout.strategy "overlap" deploys through it). */
  standby?: boolean;
}

/** Every key of the block (appEnvironment's are the app's own variables: any name). */
export const FLEET_CONFIG_KEYS: Keys<FleetConfig> = {
  keys: {
    subnet: "any",
    sshPort: "any",
    appPort: "any",
    lbPort: "any",
    baseDir: "any",
    lbRole: "any",
    deployUser: "any",
    appUser: "any",
    hosts: { each: { keys: { name: "any", roles: "any" } satisfies Keys<LocalFleetHostSpec>["keys"] } },
    appEnvironment: "any",
    stockSshdLimits: "any",
    standby: "any",
  },
};

/** The config key of a LocalFleet argument (`subnet`, `hosts[web1].roles`): the block passes them as they are. */
export const fleetConfigKey = (argument: string): string => `cutover:fleet.${argument}`;

// Scripts that make and remove the local fleet's machines on this computer (run as root by
// local commands). File contents arrive in environment variables, never spliced into shell.
import { script, sh } from "../quote";

export interface UsersArgs {
  baseDir: string;
  fleetDir: string;
  deployUser: string;
  appUser: string;
}

/**
 * Machine-wide bookkeeping shared by every local fleet: which fleets exist (the users are
 * removed with the last one) and whether Cutover created the users at all (so destroy never
 * removes users it did not make).
 */
export const FLEET_REGISTRY = "/var/lib/cutover/.fleets";
const usersMarker = `${FLEET_REGISTRY}/.users-created-by-cutover`;
const registryEntry = (fleetDir: string) => `${FLEET_REGISTRY}/${fleetDir.replace(/\//g, "_")}`;
/** The deploy user's home: a real directory, so sessions start somewhere sane. */
const homeOf = (user: string) => `/var/lib/cutover/home/${user}`;

/**
 * Creates a system user when it is missing, in its own group; a same-named group left without
 * its user (an interrupted removal) is taken over instead of failing useradd.
 */
function addSystemUser(user: string, options: string[]): string[] {
  return [
    sh`if ! id -u ${user} >/dev/null 2>&1; then`,
    sh`  if getent group ${user} >/dev/null; then useradd --system --gid ${user} ${options} ${user}; else useradd --system --user-group ${options} ${user}; fi`,
    sh`  touch ${usersMarker}`,
    "fi",
  ];
}

export function createFleetBase(a: UsersArgs): string {
  return script([
    sh`install -d -m 0755 ${a.baseDir} ${a.fleetDir} ${FLEET_REGISTRY}`,
    sh`touch ${registryEntry(a.fleetDir)}`,
    // sshd's privilege separation directory; on a booted Debian it is made by the ssh service.
    "install -d -m 0755 /run/sshd",
    ...addSystemUser(a.appUser, ["--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin"]),
    ...addSystemUser(a.deployUser, ["--groups", a.appUser, "--home-dir", homeOf(a.deployUser), "--shell", "/bin/bash"]),
    sh`install -d -m 0750 -o ${a.deployUser} -g ${a.deployUser} ${homeOf(a.deployUser)}`,
    // A locked password ("!") makes sshd refuse even key logins when PAM is off; "*" is
    // "no password" without locking the account.
    sh`usermod -p '*' ${a.deployUser}`,
    sh`echo ${`fleet base ready in ${a.fleetDir}`}`,
  ]);
}

export function removeFleetBase(a: UsersArgs): string {
  return script([
    sh`rm -rf ${a.fleetDir} ${registryEntry(a.fleetDir)}`,
    sh`rmdir ${a.baseDir} 2>/dev/null || true`,
    // Users are shared by every fleet on the machine: remove them with the last one only.
    sh`if [ -z "$(ls -A ${FLEET_REGISTRY} | grep -vxF .users-created-by-cutover)" ]; then`,
    // Sessions still open as these users (a deploy's pooled SSH connections outlive the fleet's
    // sshd listeners) would make userdel refuse, and leave the groups behind: end them first.
    sh`  if [ -e ${usersMarker} ]; then`,
    sh`    pkill -KILL -u ${a.deployUser} 2>/dev/null || true; pkill -KILL -u ${a.appUser} 2>/dev/null || true`,
    sh`    userdel ${a.deployUser} 2>/dev/null || true; userdel ${a.appUser} 2>/dev/null || true`,
    sh`    for g in ${a.deployUser} ${a.appUser}; do if getent group "$g" >/dev/null; then groupdel "$g" 2>/dev/null || true; fi; done`,
    "  fi",
    sh`  rm -rf ${FLEET_REGISTRY} ${homeOf(a.deployUser)}; rmdir /var/lib/cutover/home /var/lib/cutover 2>/dev/null || true`,
    "fi",
  ]);
}

export interface MachineFilesArgs {
  label: string;
  dir: string;
  sshDir: string;
  sshdConfig: string;
  hostKey: string;
  authorizedKeys: string;
  /** Deploy root, owned by the deploy user (hosts only). */
  root?: { path: string; deployUser: string; appUser: string };
  /** Extra config files: path → name of the environment variable holding the content. */
  files: Record<string, string>;
}

/**
 * Writes a machine's directories and config files, generates its SSH host key once, and
 * prints the public host key (authorized_keys format) for pinning. Re-runnable: an update
 * rewrites configs but keeps the host key and everything deployed under the root.
 */
export function writeMachineFiles(a: MachineFilesArgs): string {
  const files = Object.entries(a.files);
  return script([
    "umask 022",
    sh`install -d -m 0755 ${a.dir} ${a.sshDir}`,
    ...files.map(([path]) => sh`install -d -m 0755 "$(dirname ${path})"`),
    sh`printf '%s\n' "$SSHD_CONFIG" > ${a.sshdConfig}`,
    sh`printf '%s\n' "$AUTHORIZED_KEYS" > ${a.authorizedKeys}`,
    sh`chmod 0644 ${a.authorizedKeys}`,
    ...files.map(([path, variable]) => `printf '%s\\n' "\${${envName(variable)}}" > ${sh`${path}`}`),
    sh`[ -s ${a.hostKey} ] || ssh-keygen -q -t ed25519 -N '' -C ${a.label} -f ${a.hostKey}`,
    a.root && sh`install -d -m 2775 -o ${a.root.deployUser} -g ${a.root.appUser} ${a.root.path}`,
    sh`cut -d' ' -f1,2 ${`${a.hostKey}.pub`}`,
  ]);
}

/**
 * Removes a machine. Its daemons were stopped first; anything still running from inside it
 * (an app orphaned when its supervisor was killed) is killed too, so nothing is left behind.
 */
export function removeMachineFiles(dir: string): string {
  return script([
    sh`dir=${dir}`,
    // One find over /proc, not a readlink per process: with 64 machines (~450 processes) the
    // per-process forks made tearing a fleet down take ~20 s a machine on 2 cores. -lname takes
    // a glob: $dir is safe in one, as baseDir and names are letters, digits, _ . / - (plan.ts).
    'find /proc -mindepth 2 -maxdepth 2 -name cwd \\( -lname "$dir" -o -lname "$dir/*" \\) 2>/dev/null | while read -r p; do p=${p%/cwd}; kill -KILL "${p#/proc/}" 2>/dev/null || true; done',
    'rm -rf "$dir"',
  ]);
}

function envName(name: string): string {
  if (!/^[A-Z][A-Z0-9_]*$/.test(name)) throw new Error(`environment variable name ${JSON.stringify(name)} is invalid`);
  return name;
}

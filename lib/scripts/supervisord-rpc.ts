/**
 * Restarting a supervisord program through supervisord's own XML-RPC socket with curl.
 *
 * It makes the same two calls as `supervisorctl restart` — stopProcess, then startProcess
 * waiting until the program has been up `startsecs` — so a release that dies at start still
 * fails the restart at once (supervisord's ABNORMAL_TERMINATION), but without starting a
 * Python interpreter on every restart. That start-up is on the critical path of every host's
 * time out of rotation: measured on an idle machine with the 1 s-boot sample app, the new
 * release answered /healthz 1.29–1.32 s after the restart began, against 1.47–1.49 s with
 * supervisorctl, and more under load, where the interpreter competes for the CPU.
 *
 * The faults supervisorctl itself lets pass pass here too: NOT_RUNNING from stopProcess (the
 * program was not running: it is started) and ALREADY_STARTED from startProcess (supervisord's
 * own autorestart started it between the two calls — on a fresh host, the program's retries
 * from before the first release existed — from the `current` just swapped in; the check that
 * follows the restart decides whether it serves). Any other fault fails with supervisord's words
 * on stderr, e.g. "supervisord could not start app: ABNORMAL_TERMINATION: app" (or SPAWN_ERROR
 * once supervisord has given up on it).
 */
import { quote } from "./quote";
import { CutoverInputError, validateAbsolutePath, validateServiceName } from "../plan";

// curl reads the socket path as one argument; keep it to plain path characters anyway, so the
// message naming it can never be misread.
const SOCKET_PATH = /^\/[A-Za-z0-9_.@+\/-]+$/;

function call(method: "stopProcess" | "startProcess", name: string): string {
  // Both methods take (name, wait): wait=1 returns when the process has stopped / is RUNNING.
  return `<?xml version='1.0'?><methodCall><methodName>supervisor.${method}</methodName><params><param><value><string>${name}</string></value></param><param><value><boolean>1</boolean></value></param></params></methodCall>`;
}

export function supervisordRpcRestartCommand(socket: string, name: string): string {
  const sock = validateAbsolutePath(socket, "socket");
  if (!SOCKET_PATH.test(sock)) throw new CutoverInputError("socket", socket, "use a socket path of letters, digits and \"_.@+-/\" only");
  const program = validateServiceName(name, "name");
  // stopProcess waits up to the program's stopwaitsecs and startProcess up to its startsecs
  // times its retries: the time limit only guards against a supervisord that stopped answering.
  const rpc = (method: "stopProcess" | "startProcess") =>
    `curl -sS --max-time 300 --unix-socket ${quote(sock)} -H 'Content-Type: text/xml' --data-binary ${quote(call(method, program))} http://supervisord/RPC2`;
  const unreachable = quote(`cannot reach supervisord at ${sock}; is it running, and may this user open its socket?`);
  return [
    "fault_of() { printf '%s' \"$1\" | tr -d '\\r\\n' | sed -n 's:.*<name>faultString</name>[[:space:]]*<value><string>\\([^<]*\\)</string>.*:\\1:p'; }",
    `out=$(${rpc("stopProcess")}) || { echo ${unreachable} >&2; exit 1; }`,
    "case $out in *'<fault>'*)",
    `  case $(fault_of "$out") in NOT_RUNNING*) ;; *) echo "supervisord could not stop ${program}: $(fault_of "$out")" >&2; exit 1 ;; esac ;;`,
    "esac",
    `out=$(${rpc("startProcess")}) || { echo ${unreachable} >&2; exit 1; }`,
    "case $out in *'<fault>'*)",
    `  case $(fault_of "$out") in ALREADY_STARTED*) ;; *) echo "supervisord could not start ${program}: $(fault_of "$out")" >&2; exit 1 ;; esac ;;`,
    "esac",
  ].join("\n");
}

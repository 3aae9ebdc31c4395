/**
 * Restarting a supervisord program through supervisord's own XML-RPC socket with curl, and
 * asking whether it is still alive.
 *
 * The restart makes the calls `supervisorctl restart` makes — stopProcess (waiting until the
 * old process has exited), then startProcess — but does not wait for the program to have been
 * up `startsecs`: it returns once the new process is spawned, and the check that follows polls
 * the app's own readiness, so an app ready in 0.3 s is back in 0.3 s, not after `startsecs`.
 * A release that dies at start is caught by the alive command, which the check runs between
 * its polls: supervisord reports the program BACKOFF (exited before `startsecs`, retrying),
 * FATAL (given up) or EXITED, and the check stops at once with those words instead of waiting
 * for its deadline. No Python starts on any host's time out of rotation (supervisorctl would
 * cost ~0.2 s per restart on an idle machine, more under load).
 *
 * The faults supervisorctl itself lets pass pass here too: NOT_RUNNING from stopProcess (the
 * program was not running: it is started) and ALREADY_STARTED from startProcess (supervisord's
 * own autorestart started it between the two calls — on a fresh host, the program's retries
 * from before the first release existed — from the `current` just swapped in; the check that
 * follows the restart decides whether it serves). Any other fault fails with supervisord's words
 * on stderr, e.g. "supervisord could not start app: SPAWN_ERROR: app".
 */
import { quote } from "./quote";
import { CutoverInputError, validateAbsolutePath, validateServiceName } from "../plan";

// curl reads the socket path as one argument; keep it to plain path characters anyway, so the
// message naming it can never be misread.
const SOCKET_PATH = /^\/[A-Za-z0-9_.@+\/-]+$/;

type Method = "stopProcess" | "startProcess" | "getProcessInfo";

function call(method: Method, name: string, wait?: boolean): string {
  // stopProcess and startProcess take (name, wait): wait=1 returns when the process has
  // stopped / is RUNNING; getProcessInfo takes (name).
  const param = (type: string, value: string) => `<param><value><${type}>${value}</${type}></value></param>`;
  const params = param("string", name) + (wait === undefined ? "" : param("boolean", wait ? "1" : "0"));
  return `<?xml version='1.0'?><methodCall><methodName>supervisor.${method}</methodName><params>${params}</params></methodCall>`;
}

function rpcParts(socket: string, name: string) {
  const sock = validateAbsolutePath(socket, "socket");
  if (!SOCKET_PATH.test(sock)) throw new CutoverInputError("socket", socket, "use a socket path of letters, digits and \"_.@+-/\" only");
  const program = validateServiceName(name, "name");
  // stopProcess waits up to the program's stopwaitsecs, so its time limit only guards against a
  // supervisord that stopped answering; getProcessInfo answers at once, and the check that asks
  // it between polls must not hang past its own deadline on a stuck supervisord.
  const rpc = (method: Method, wait?: boolean) =>
    `curl -sS --max-time ${method === "getProcessInfo" ? 5 : 300} --unix-socket ${quote(sock)} -H 'Content-Type: text/xml' --data-binary ${quote(call(method, program, wait))} http://supervisord/RPC2`;
  const unreachable = quote(`cannot reach supervisord at ${sock}; is it running, and may this user open its socket?`);
  return { program, rpc, unreachable };
}

// `member_of NAME XML`: the string value of struct member NAME (a fault's faultString, a
// process's statename) in an XML-RPC answer.
const MEMBER_OF_SH =
  "member_of() { printf '%s' \"$2\" | tr -d '\\r\\n' | sed -n \"s:.*<name>$1</name>[[:space:]]*<value><string>\\([^<]*\\)</string>.*:\\1:p\"; }";

/** stopProcess, waiting until the process has exited; NOT_RUNNING is fine (it is stopped). */
function stopLines(rpc: ReturnType<typeof rpcParts>["rpc"], program: string, unreachable: string): string[] {
  return [
    MEMBER_OF_SH,
    `out=$(${rpc("stopProcess", true)}) || { echo ${unreachable} >&2; exit 1; }`,
    "case $out in *'<fault>'*)",
    `  case $(member_of faultString "$out") in NOT_RUNNING*) ;; *) echo "supervisord could not stop ${program}: $(member_of faultString "$out")" >&2; exit 1 ;; esac ;;`,
    "esac",
  ];
}

export function supervisordRpcRestartCommand(socket: string, name: string): string {
  const { program, rpc, unreachable } = rpcParts(socket, name);
  return [
    ...stopLines(rpc, program, unreachable),
    // Not waiting for startsecs: the check after the restart polls readiness (see above).
    `out=$(${rpc("startProcess", false)}) || { echo ${unreachable} >&2; exit 1; }`,
    "case $out in *'<fault>'*)",
    `  case $(member_of faultString "$out") in ALREADY_STARTED*) ;; *) echo "supervisord could not start ${program}: $(member_of faultString "$out")" >&2; exit 1 ;; esac ;;`,
    "esac",
  ].join("\n");
}

/** Stops the program and waits until it has exited (NOT_RUNNING is fine: it is stopped). */
export function supervisordRpcStopCommand(socket: string, name: string): string {
  const { program, rpc, unreachable } = rpcParts(socket, name);
  return stopLines(rpc, program, unreachable).join("\n");
}

/** Exits 0 while supervisord has the program STARTING or RUNNING; otherwise says its state. */
export function supervisordRpcAliveCommand(socket: string, name: string): string {
  const { program, rpc, unreachable } = rpcParts(socket, name);
  return [
    MEMBER_OF_SH,
    `out=$(${rpc("getProcessInfo")}) || { echo ${unreachable} >&2; exit 1; }`,
    // The usual answer, matched by the shell itself: asked every few polls while hidden.
    "case $out in *'<name>statename</name>'*'<value><string>RUNNING</string>'*|*'<name>statename</name>'*'<value><string>STARTING</string>'*) exit 0 ;; esac",
    'state=$(member_of statename "$out")',
    'case $state in STARTING|RUNNING) exit 0 ;; esac',
    `echo "supervisord reports ${program} \${state:-unknown}: $(member_of description "$out")$(member_of faultString "$out")" >&2`,
    "exit 1",
  ].join("\n");
}

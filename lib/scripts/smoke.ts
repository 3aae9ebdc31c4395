/**
 * Smoke test one host before it is unhidden: GET a URL on that host (not through the LB)
 * until the body contains the expected release id, proving the restarted process is the new
 * release and answers. A 2xx/3xx status is required too, so an error page that happens to
 * print the id does not pass.
 *
 * Bounded twice: at most 1 + `retries` requests, and no later than `deadlineSeconds` after
 * the start (each request's --max-time is the time left). The failure names the URL, the
 * release, the deadline and the last response (status and the first 200 bytes of the body,
 * or curl's error), which is what one needs to see why the host is unhealthy.
 */
import { hostScript } from "./common";
import { restorePrevious, type RestoreArgs } from "./activate";
import { CutoverInputError, validateInteger, validateLabel } from "../plan";

export interface SmokeTestArgs {
  /** http(s) URL on the host itself, e.g. http://127.0.0.2:8080/revision. */
  url: string;
  /** Text the body must contain: the release id. */
  expectBody: string;
  /** Extra attempts after the first. */
  retries: number;
  intervalSeconds: number;
  deadlineSeconds: number;
  host: string;
}

function validateUrl(value: unknown): string {
  const fix = "use an http:// or https:// URL on the host, e.g. \"http://127.0.0.1:8080/revision\"";
  if (typeof value !== "string") throw new CutoverInputError("url", value, fix);
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new CutoverInputError("url", value, fix);
  }
  if ((parsed.protocol !== "http:" && parsed.protocol !== "https:") || /[\s]/.test(value)) {
    throw new CutoverInputError("url", value, fix);
  }
  return value;
}

export function smokeTest(a: SmokeTestArgs): string {
  return hostScript({
    host: a.host,
    vars: {
      url: validateUrl(a.url),
      expect: validateLabel(a.expectBody, "expectBody"),
      retries: validateInteger(a.retries, "retries", { min: 0, max: 1000 }),
      interval: validateInteger(a.intervalSeconds, "intervalSeconds", { min: 1, unit: "seconds" }),
      deadline_s: validateInteger(a.deadlineSeconds, "deadlineSeconds", { min: 1, unit: "seconds" }),
    },
    // one_line TEXT: the first 200 bytes on one line, for the failure message.
    functions: ["one_line() { printf '%s' \"$1\" | tr '\\n\\r\\t' '   ' | cut -c 1-200 | sed 's/ *$//'; }"],
    body: [
      "nl='",
      "'",
      "deadline=$(( $(date +%s) + deadline_s ))",
      "attempt=0",
      "last='no response'",
      "while :; do",
      "  attempt=$((attempt + 1))",
      "  left=$(( deadline - $(date +%s) ))",
      '  [ "$left" -ge 1 ] || left=1',
      // Body, then a newline and the status code on the last line.
      "  if out=$(curl -sS --max-time \"$left\" -w '\\n%{http_code}' \"$url\" 2>&1); then",
      '    code=${out##*"$nl"}',
      '    body=${out%"$nl"*}',
      '    case $code in 2??|3??) case $body in *"$expect"*)',
      '      say "smoke test" "GET $url returned release $expect (attempt $attempt)"',
      "      exit 0 ;; esac ;; esac",
      "    last=\"HTTP $code: $(one_line \"$body\")\"",
      "  else",
      "    last=$(one_line \"$out\")",
      "  fi",
      '  [ "$attempt" -le "$retries" ] || break',
      '  [ $(( $(date +%s) + interval )) -le "$deadline" ] || break',
      '  sleep "$interval"',
      "done",
      'fail "smoke test" "GET $url did not return release $expect within ${deadline_s}s ($attempt attempts); last response: $last"',
    ],
  });
}

/**
 * The smoke test with its consequence: on failure the host's previous release is restored
 * (restorePrevious) and the script still fails, so the rollout stops. Both halves are
 * Cutover-generated scripts, each held in a quoted variable and run with `sh -c`.
 */
export function smokeTestOrRestore(smoke: SmokeTestArgs, restore: Omit<RestoreArgs, "host">): string {
  const restoreScript = restorePrevious({ ...restore, host: smoke.host });
  return hostScript({
    host: smoke.host,
    vars: { smoke_script: smokeTest(smoke), restore_script: restoreScript },
    body: [
      'if sh -c "$smoke_script"; then exit 0; fi',
      'warn "smoke test" "restoring the previous release"',
      'sh -c "$restore_script" || fail "smoke test" "failed, and restoring the previous release failed too; the host stays out of rotation"',
      'fail "smoke test" "failed; the previous release is restored and the rollout stops"',
    ],
  });
}

// Deploy notifications: a webhook URL kept as a secret in stack config
// (`pulumi config set --secret --path cutover:notify.webhook <url>`) receives one JSON POST
// on start, rollback, success and failure. The body has Slack's `text` (so a Slack incoming
// webhook shows it as is) plus structured fields for anything else. The URL is a credential:
// it is never printed, logged or put in an error; a failed delivery is a warning naming only
// the event and the HTTP status or error code, and never fails the deploy.

export type NotifyEvent = "start" | "rollback" | "success" | "failure";

export interface Notice {
  event: NotifyEvent;
  project: string;
  stack: string;
  /** The release being deployed (or rolled back to); "" when not known yet. */
  release: string;
  /** The release that was live before, when known. */
  previousRelease?: string;
  deployer: string;
  message?: string;
  /** failure: the host and the step (prepare, migrate, cycle) that failed, and why. */
  host?: string;
  step?: string;
  reason?: string;
  seconds?: number;
  /** success/failure: hosts switched, unchanged, failed. */
  hosts?: { switched: string[]; unchanged: string[]; failed: string[] };
}

export function noticeText(n: Notice): string {
  const what = `${n.project}/${n.stack}`;
  const rel = n.release || "(release being built)";
  switch (n.event) {
    case "start":
      return `:rocket: ${n.deployer} started deploying ${rel} to ${what}${n.message ? ` — ${n.message}` : ""}`;
    case "rollback":
      return `:rewind: ${n.deployer} started rolling ${what} back to ${rel}${n.previousRelease ? ` (from ${n.previousRelease})` : ""}${n.message ? ` — ${n.message}` : ""}`;
    case "success":
      return `:white_check_mark: ${what} is on ${rel}${n.seconds !== undefined ? ` (${n.seconds} s` : ""}${n.hosts ? `, ${n.hosts.switched.length} host(s) switched` : ""}${n.seconds !== undefined ? ")" : ""}`;
    case "failure":
      return `:x: deploying ${rel} to ${what} failed${n.host ? ` at host ${n.host}` : ""}${n.step ? ` (step ${n.step})` : ""}${n.reason ? `: ${n.reason}` : ""}`;
  }
}

export interface Notifier {
  send(n: Notice): Promise<void>;
}

/** A notifier for `url` (undefined: sends nothing); `warn` gets delivery problems, URL-free. */
export function webhookNotifier(url: string | undefined, warn: (line: string) => void, timeoutMs = 5000): Notifier {
  return {
    async send(n) {
      if (!url) return;
      const body = JSON.stringify({ text: noticeText(n), ...n, time: new Date().toISOString() });
      try {
        const res = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body,
          signal: AbortSignal.timeout(timeoutMs),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (!res.ok) warn(`cutover: warning: the ${n.event} notification was refused by the webhook: HTTP ${res.status}`);
      } catch (e) {
        const err = e as Error & { cause?: { code?: string } };
        const why = (err.name === "TimeoutError" ? `no answer within ${timeoutMs / 1000} s` : (err.cause?.code ?? err.message)).split(url).join("<webhook>");
        warn(`cutover: warning: the ${n.event} notification was not delivered (${why}); check cutover:notify.webhook`);
      }
    },
  };
}

/** Reads `cutover:notify.webhook` from the stack's config map (values as `pulumi config --json`). */
export function webhookFromConfig(config: Record<string, { value: string; secret?: boolean }>, warn: (line: string) => void): string | undefined {
  const block = config["cutover:notify"];
  let url: unknown;
  let secret = block?.secret ?? false;
  if (block) {
    try {
      url = (JSON.parse(block.value) as { webhook?: unknown }).webhook;
    } catch {
      url = undefined;
    }
  }
  if (url === undefined && config["cutover:notify.webhook"]) {
    url = config["cutover:notify.webhook"].value;
    secret = config["cutover:notify.webhook"].secret ?? false;
  }
  if (url === undefined) return undefined;
  if (typeof url !== "string" || !/^https?:\/\//.test(url)) {
    warn("cutover: warning: cutover:notify.webhook is not an http(s) URL; no notification is sent");
    return undefined;
  }
  if (!secret) {
    warn("cutover: warning: cutover:notify.webhook is stored in plaintext; keep it as a secret: `pulumi config set --secret --path cutover:notify.webhook <url>`");
  }
  return url;
}

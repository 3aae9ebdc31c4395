// A small stand-in for the Elastic Load Balancing v2 API on 127.0.0.1, for end-to-end tests of
// the AWS target-group membership: no AWS emulator can be installed here and no AWS account is
// used. It is NOT AWS: it speaks the same wire protocol (the "Query" protocol: POST of a
// form-encoded body with Action and Version=2015-12-01, XML answers in the shapes the SDK's
// deserializers read, errors as <ErrorResponse>), for the six actions the membership uses:
// RegisterTargets, DeregisterTargets, DescribeTargetHealth, AddTags, RemoveTags, DescribeTags.
//
// What it models of a target group: a registered target is `initial` for `healthyAfterMs`, then
// `healthy` (or `unhealthy`, if a test made it fail its health checks); a deregistered one is
// `draining` for `deregistrationDelayMs`, then gone (`unused`, Target.NotRegistered). Tags per
// target group, with AWS's key and value rules. Every request must carry a valid AWS Signature
// Version 4 made with the server's one access key, checked here independently of the SDK: a
// request without one is refused as AWS refuses it (403), so a call that succeeds proves the
// caller had the credentials. Each request is recorded with its Authorization header.
import { createHash, createHmac, randomUUID } from "node:crypto";
import * as http from "node:http";
import { AddressInfo } from "node:net";

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface RecordedRequest {
  action: string;
  params: Record<string, string>;
  authorization?: string;
  /** From the Authorization header's credential scope. */
  accessKeyId?: string;
  region?: string;
  service?: string;
  /** "valid" when the signature matches this server's secret key; else why not. */
  signature: string;
  /** The HTTP status answered. */
  status: number;
}

export interface TargetGroupOptions {
  healthyAfterMs?: number;
  deregistrationDelayMs?: number;
}

interface Target {
  id: string;
  port: number;
  registeredAt: number;
  deregisteredAt?: number;
}

interface Group {
  targets: Map<string, Target>;
  tags: Map<string, string>;
  /** Targets whose app fails the health checks, registered or not (a property of the server, not of its registration). */
  failing: Set<string>;
  healthyAfterMs: number;
  deregistrationDelayMs: number;
}

export interface Elbv2Server {
  /** The endpoint, for AWS_ENDPOINT_URL. */
  url: string;
  requests: RecordedRequest[];
  addTargetGroup(arn: string, options?: TargetGroupOptions): void;
  /** Registers a target as if long ago: healthy at once (or unhealthy when `failing`). */
  seed(arn: string, id: string, port: number, options?: { failing?: boolean }): void;
  /**
   * Someone else's deregistration (the console, another tool): draining for `drainingMs`
   * (default: the group's deregistration delay), then gone.
   */
  deregister(arn: string, id: string, port: number, drainingMs?: number): void;
  state(arn: string, id: string, port: number): string;
  tags(arn: string): Record<string, string>;
  /** The next `count` calls of `action` are answered with AWS's throttling error. */
  throttle(action: string, count: number): void;
  close(): Promise<void>;
}

const NS = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const xml = (s: string | number) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const el = (name: string, inner: string | number) => `<${name}>${inner}</${name}>`;
const members = (items: string[]) => items.map((i) => el("member", i)).join("");

/** `Prefix.member.N[.Field]` entries of a Query-protocol form, in order. */
function list(params: Record<string, string>, prefix: string): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (const [k, v] of Object.entries(params)) {
    const m = new RegExp(`^${prefix}\\.member\\.(\\d+)(?:\\.(\\w+))?$`).exec(k);
    if (!m) continue;
    const i = Number(m[1]) - 1;
    out[i] = { ...out[i], [m[2] ?? ""]: v };
  }
  return out.filter(Boolean);
}

function required(params: Record<string, string>, name: string): string {
  const v = params[name];
  if (!v) throw new ApiError(400, "ValidationError", `1 validation error detected: Value null at '${name[0].toLowerCase()}${name.slice(1)}' failed to satisfy constraint: Member must not be null`);
  return v;
}

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const hmac = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data).digest();

/** Checks an AWS Signature Version 4 (Authorization header form) against the known secret. */
function verifySigV4(req: http.IncomingMessage, body: Buffer, creds: Credentials): { result: string; accessKeyId?: string; region?: string; service?: string } {
  const auth = req.headers.authorization;
  if (!auth) return { result: "missing" };
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return { result: "malformed" };
  const [, accessKeyId, date, region, service, signedHeaders, signature] = m;
  const scopeInfo = { accessKeyId, region, service };
  if (accessKeyId !== creds.accessKeyId) return { result: "unknown access key", ...scopeInfo };
  const amzDate = req.headers["x-amz-date"];
  if (typeof amzDate !== "string" || !amzDate.startsWith(date)) return { result: "no x-amz-date for the credential's date", ...scopeInfo };
  const names = signedHeaders.split(";");
  if (!names.includes("host")) return { result: "host not signed", ...scopeInfo };
  const canonicalHeaders = names.map((n) => `${n}:${String(req.headers[n] ?? "").trim().replace(/\s+/g, " ")}\n`).join("");
  const url = new URL(req.url ?? "/", "http://x");
  const query = [...url.searchParams].map(([k, v]) => [encodeURIComponent(k), encodeURIComponent(v)]).sort().map(([k, v]) => `${k}=${v}`).join("&");
  const payloadHash = sha256(body);
  const canonical = [req.method, url.pathname, query, canonicalHeaders, signedHeaders, payloadHash].join("\n");
  const scope = `${date}/${region}/${service}/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256(canonical)].join("\n");
  const key = hmac(hmac(hmac(hmac(`AWS4${creds.secretAccessKey}`, date), region), service), "aws4_request");
  const expected = createHmac("sha256", key).update(toSign).digest("hex");
  return { result: expected === signature ? "valid" : "signature does not match", ...scopeInfo };
}

// AWS's rules for tags: up to 128 (key) and 256 (value) Unicode letters, digits, spaces and _.:/=+-@; no aws: keys.
const TAG_TEXT = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;

export async function startElbv2Server(creds: Credentials, defaults: TargetGroupOptions = {}): Promise<Elbv2Server> {
  const groups = new Map<string, Group>();
  const requests: RecordedRequest[] = [];
  const throttled = new Map<string, number>();

  const groupOf = (arn: string) => {
    const g = groups.get(arn);
    if (!g) throw new ApiError(400, "TargetGroupNotFound", `One or more target groups not found`);
    return g;
  };
  const keyOf = (id: string, port: number) => `${id}:${port}`;

  /** A target's health now; a target whose deregistration delay is over leaves the group. */
  function healthOf(g: Group, key: string): { state: string; reason?: string; description?: string } {
    const t = g.targets.get(key);
    const now = Date.now();
    if (t?.deregisteredAt !== undefined && now - t.deregisteredAt >= g.deregistrationDelayMs) g.targets.delete(key);
    const live = g.targets.get(key);
    if (!live) return { state: "unused", reason: "Target.NotRegistered", description: "Target is not registered to the target group" };
    if (live.deregisteredAt !== undefined) return { state: "draining", reason: "Target.DeregistrationInProgress", description: "Target deregistration is in progress" };
    if (now - live.registeredAt < g.healthyAfterMs) return { state: "initial", reason: "Elb.InitialHealthChecking", description: "Initial health checks in progress" };
    if (g.failing.has(key)) return { state: "unhealthy", reason: "Target.ResponseCodeMismatch", description: "Health checks failed with these codes: [502]" };
    return { state: "healthy" };
  }

  const targetsOf = (params: Record<string, string>) =>
    list(params, "Targets").map((t) => {
      if (!t.Id) throw new ApiError(400, "ValidationError", "A target must have an Id");
      return { id: t.Id, port: Number(t.Port ?? 80) };
    });

  function describeHealth(g: Group, targets: { id: string; port: number }[]): string {
    // Without Targets: every target the group still has (registered or draining).
    const asked = targets.length ? targets : [...g.targets.values()].map(({ id, port }) => ({ id, port }));
    const rows = asked
      .map(({ id, port }) => ({ id, port, h: healthOf(g, keyOf(id, port)) }))
      .filter(({ h }) => targets.length > 0 || h.state !== "unused")
      .map(({ id, port, h }) => {
        const health = el("State", h.state) + (h.reason ? el("Reason", h.reason) : "") + (h.description ? el("Description", xml(h.description)) : "");
        return el("Target", el("Id", xml(id)) + el("Port", port)) + el("HealthCheckPort", port) + el("TargetHealth", health);
      });
    return el("TargetHealthDescriptions", members(rows));
  }

  const actions: Record<string, (params: Record<string, string>) => string> = {
    RegisterTargets(params) {
      const g = groupOf(required(params, "TargetGroupArn"));
      for (const { id, port } of targetsOf(params)) {
        const key = keyOf(id, port);
        healthOf(g, key); // drops a target whose deregistration is over
        const t = g.targets.get(key);
        if (t && t.deregisteredAt === undefined) continue; // already registered: nothing changes
        g.targets.set(key, { id, port, registeredAt: Date.now() });
      }
      return "";
    },
    DeregisterTargets(params) {
      const g = groupOf(required(params, "TargetGroupArn"));
      for (const { id, port } of targetsOf(params)) {
        const t = g.targets.get(keyOf(id, port));
        if (t && t.deregisteredAt === undefined) t.deregisteredAt = Date.now();
      }
      return "";
    },
    DescribeTargetHealth(params) {
      return describeHealth(groupOf(required(params, "TargetGroupArn")), targetsOf(params));
    },
    AddTags(params) {
      const arns = list(params, "ResourceArns").map((r) => r[""]);
      const tags = list(params, "Tags");
      for (const t of tags) {
        const key = t.Key ?? "";
        const value = t.Value ?? "";
        if (!key || key.length > 128 || value.length > 256 || !TAG_TEXT.test(key) || !TAG_TEXT.test(value) || key.startsWith("aws:")) {
          throw new ApiError(400, "ValidationError", `Tag key '${key}' or value '${value}' does not satisfy AWS's tag rules`);
        }
      }
      for (const arn of arns) for (const t of tags) groupOf(arn).tags.set(t.Key, t.Value ?? "");
      return "";
    },
    RemoveTags(params) {
      const keys = list(params, "TagKeys").map((k) => k[""]);
      for (const { "": arn } of list(params, "ResourceArns")) for (const k of keys) groupOf(arn).tags.delete(k);
      return "";
    },
    DescribeTags(params) {
      const rows = list(params, "ResourceArns").map(({ "": arn }) => {
        const tags = [...groupOf(arn).tags].map(([k, v]) => el("Key", xml(k)) + el("Value", xml(v)));
        return el("ResourceArn", xml(arn)) + el("Tags", members(tags));
      });
      return el("TagDescriptions", members(rows));
    },
  };

  const errorXml = (e: ApiError) =>
    `<ErrorResponse xmlns="${NS}">${el("Error", el("Type", e.status >= 500 ? "Receiver" : "Sender") + el("Code", e.code) + el("Message", xml(e.message)))}${el("RequestId", randomUUID())}</ErrorResponse>`;

  function answer(req: http.IncomingMessage, body: Buffer): { status: number; text: string; record: RecordedRequest } {
    const params = Object.fromEntries(new URLSearchParams(body.toString("utf8")));
    const sig = verifySigV4(req, body, creds);
    const record: RecordedRequest = {
      action: params.Action ?? "",
      params,
      authorization: req.headers.authorization,
      accessKeyId: sig.accessKeyId,
      region: sig.region,
      service: sig.service,
      signature: sig.result,
      status: 200,
    };
    try {
      if (req.method !== "POST") throw new ApiError(400, "InvalidAction", "The Query API is POST here");
      if (sig.result === "missing") throw new ApiError(403, "MissingAuthenticationToken", "Request is missing Authentication Token");
      if (sig.result === "unknown access key") throw new ApiError(403, "InvalidClientTokenId", "The security token included in the request is invalid.");
      if (sig.result !== "valid") throw new ApiError(403, "SignatureDoesNotMatch", `The request signature we calculated does not match the signature you provided (${sig.result})`);
      if (sig.service !== "elasticloadbalancing") throw new ApiError(403, "SignatureDoesNotMatch", `Credential should be scoped to correct service: 'elasticloadbalancing'`);
      if (params.Version !== "2015-12-01") throw new ApiError(400, "InvalidAction", `Could not find operation ${params.Action} for version ${params.Version}`);
      const handler = Object.hasOwn(actions, record.action) ? actions[record.action] : undefined;
      if (!handler) throw new ApiError(400, "InvalidAction", `Could not find operation ${record.action} for version 2015-12-01`);
      const left = throttled.get(record.action) ?? 0;
      if (left > 0) {
        throttled.set(record.action, left - 1);
        throw new ApiError(400, "Throttling", "Rate exceeded");
      }
      const result = handler(params);
      const a = record.action;
      return {
        status: 200,
        record,
        text: `<${a}Response xmlns="${NS}">${el(`${a}Result`, result)}${el("ResponseMetadata", el("RequestId", randomUUID()))}</${a}Response>`,
      };
    } catch (e) {
      const err = e instanceof ApiError ? e : new ApiError(500, "InternalFailure", (e as Error).message);
      record.status = err.status;
      return { status: err.status, record, text: errorXml(err) };
    }
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const { status, text, record } = answer(req, Buffer.concat(chunks));
      requests.push(record);
      res.writeHead(status, { "content-type": "text/xml", "x-amzn-requestid": randomUUID() });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  const target = (arn: string, id: string, port: number) => {
    const t = groupOf(arn).targets.get(keyOf(id, port));
    if (!t) throw new Error(`${id}:${port} is not registered in ${arn}`);
    return t;
  };

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    addTargetGroup(arn, options = {}) {
      groups.set(arn, {
        targets: new Map(),
        tags: new Map(),
        failing: new Set(),
        healthyAfterMs: options.healthyAfterMs ?? defaults.healthyAfterMs ?? 300,
        deregistrationDelayMs: options.deregistrationDelayMs ?? defaults.deregistrationDelayMs ?? 300,
      });
    },
    seed(arn, id, port, options = {}) {
      const g = groupOf(arn);
      g.targets.set(keyOf(id, port), { id, port, registeredAt: 0 });
      if (options.failing) g.failing.add(keyOf(id, port));
    },
    deregister(arn, id, port, drainingMs) {
      const delay = groupOf(arn).deregistrationDelayMs;
      target(arn, id, port).deregisteredAt = Date.now() - delay + (drainingMs ?? delay);
    },
    state: (arn, id, port) => healthOf(groupOf(arn), keyOf(id, port)).state,
    tags: (arn) => Object.fromEntries(groupOf(arn).tags),
    throttle(action, count) {
      throttled.set(action, count);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

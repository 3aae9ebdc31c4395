// Bad input to a Deployment is refused before any resource exists, with a message naming the
// argument and the fix. Plain objects stand in for hosts: validation reads only their fields.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { DeploymentArgs } from "./deployment";
import type { Host } from "./host";
import { validateDeployment, validateRollout } from "./validate-deployment";

function host(name: string, i: number, roles = ["web"]): Host {
  return {
    name,
    roles,
    ssh: { address: `127.90.0.${10 + i}`, port: 2222, user: "deploy", privateKey: "k", hostKey: "ssh-ed25519 AAAA", gateway: { address: "127.90.0.1", port: 2222, user: "deploy", privateKey: "k", hostKey: "ssh-ed25519 AAAA" } },
    root: `/srv/${name}/app`,
    restartCommand: "supervisorctl restart app",
    app: { address: `127.90.0.${10 + i}`, port: 8080 },
    ready: [],
  };
}

const fleet = (n = 3, roles = ["web"]) => Array.from({ length: n }, (_, i) => host(`web${i + 1}`, i, roles));
const lb = { kind: "haproxy" as const, role: "web", context: undefined as never };

function args(over: Partial<DeploymentArgs> = {}): DeploymentArgs {
  return {
    hosts: fleet(),
    artifact: { path: "/tmp/a.tar.gz", sha256: "ab".repeat(32), releaseId: "v1-0123456789ab" },
    deployer: "alice",
    stack: "dev",
    loadBalancer: lb,
    batchSize: 1,
    ...over,
  };
}

function refusal(over: Partial<DeploymentArgs>): string {
  try {
    validateDeployment(args(over));
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(`accepted: ${JSON.stringify(over)}`);
}

describe("validateDeployment refuses bad input, naming the argument and the fix", () => {
  it("accepts a good deployment", () => {
    expect(() => validateDeployment(args())).not.toThrow();
    expect(() => validateDeployment(args({ batchSize: "50%", keepReleases: 2, prepare: { linkedDirs: ["log", "public/uploads"], linkedFiles: [".env"] } }))).not.toThrow();
  });

  it("release ids (rollback by id) with .., /, whitespace, quotes, newlines, shell syntax or over-long", () => {
    for (const bad of ["../v1-0123456789ab", "v1/x-0123456789ab", "v 1-0123456789ab", "v1'-0123456789ab", 'v1"-0123456789ab', "v1\n-0123456789ab", "$(id)-0123456789ab", "v1;rm-0123456789ab", `${"v".repeat(41)}-0123456789ab`, "v1", ""]) {
      expect(refusal({ artifact: undefined, releaseId: bad })).toMatch(/^releaseId .* is invalid: use an id made by releaseId\(version, sha256\), i\.e\. "<version>-<12 hex digits>"/);
    }
  });

  it("deployer, stack and redeploy labels with newlines, control characters or over-long", () => {
    expect(refusal({ deployer: "alice\nbob" })).toMatch(/^deployer "alice\\nbob" is invalid: use 1-100 characters without newlines/);
    expect(refusal({ stack: "" })).toMatch(/^stack "" is invalid: use 1-100 characters/);
    expect(refusal({ redeploy: "x".repeat(101) })).toMatch(/^redeploy ".*…" is invalid: use 1-100 characters/);
    expect(refusal({ deployer: "a\u0007b" })).toMatch(/^deployer/);
  });

  it("linked paths escaping the release: .., absolute, ., empty, newlines", () => {
    for (const bad of ["..", "../shared", "log/../../etc", "/etc", ".", "", "log\nx"]) {
      expect(refusal({ prepare: { linkedDirs: ["log", bad] } })).toMatch(/^prepare\.linkedDirs\[1\] .* is invalid: use a path inside the release such as "log"/);
      expect(refusal({ prepare: { linkedFiles: [bad] } })).toMatch(/^prepare\.linkedFiles\[0\] .* is invalid: use a path inside the release/);
    }
  });

  it("property: a linked path with a .. segment or a leading / is always refused", () => {
    const segment = fc.stringMatching(/^[a-z.]{1,6}$/);
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 3 }), fc.array(segment, { maxLength: 3 }), fc.boolean(), (a, b, absolute) => {
        const p = `${absolute ? "/" : ""}${[...a, "..", ...b].join("/")}`;
        expect(refusal({ prepare: { linkedDirs: [p] } })).toMatch(/^prepare\.linkedDirs\[0\]/);
      }),
    );
  });

  it("empty host lists", () => {
    expect(refusal({ hosts: [] })).toMatch(/hosts is empty; give at least one host/);
  });

  it("duplicate host names, SSH endpoints or app addresses", () => {
    const [a, b, c] = fleet();
    expect(refusal({ hosts: [a, { ...b, name: "web1" }, c] })).toMatch(/host web1 appears twice in hosts; host names must be unique/);
    expect(refusal({ hosts: [a, { ...b, ssh: a.ssh }, c] })).toMatch(/hosts web1 and web2 have the same SSH endpoint 127\.90\.0\.10:2222 via 127\.90\.0\.1:2222: they are one machine; list each machine once/);
    expect(refusal({ hosts: [a, b, { ...c, app: a.app }] })).toMatch(/hosts web1 and web3 have the same app address 127\.90\.0\.10:8080/);
    // The same address behind different gateways is a different machine.
    const other = { ...b, ssh: { ...a.ssh, gateway: { ...a.ssh.gateway!, address: "127.91.0.1" } } };
    expect(() => validateDeployment(args({ hosts: [a, other, c] }))).not.toThrow();
  });

  it("host names, roles and roots that are not safe to use", () => {
    const [a, b] = fleet(2);
    expect(refusal({ hosts: [a, { ...b, name: "web 2" }] })).toMatch(/^hosts\[1\]\.name "web 2" is invalid: use 1-31 characters/);
    expect(refusal({ hosts: [a, { ...b, name: "$(id)" }] })).toMatch(/^hosts\[1\]\.name "\$\(id\)" is invalid/);
    expect(refusal({ hosts: [a, { ...b, roles: [] }] })).toMatch(/^hosts\[1\]\.roles \[\] is invalid: give host web2 at least one role/);
    expect(refusal({ hosts: [a, { ...b, roles: ["web;x"] }] })).toMatch(/^hosts\[1\]\.roles\[0\] "web;x" is invalid/);
    expect(refusal({ hosts: [a, { ...b, root: "/srv/../etc" }] })).toMatch(/^hosts\[1\]\.root "\/srv\/\.\.\/etc" is invalid: use an absolute path/);
    expect(refusal({ hosts: [a, { ...b, root: "/" }] })).toMatch(/^hosts\[1\]\.root "\/" is invalid: use a dedicated directory/);
    expect(refusal({ hosts: [a, { ...b, root: "srv/app" }] })).toMatch(/^hosts\[1\]\.root "srv\/app" is invalid/);
  });

  it("batch sizes: 0, negative, fractional, non-numeric, above the host count, emptying the load-balanced tier", () => {
    for (const bad of [0, -1, 1.5, NaN, "0%", "-10%", "101%", "abc", "3", "1 %"] as never[]) {
      expect(refusal({ batchSize: bad })).toMatch(/^batchSize .* is invalid: use a host count ≥ 1 or a percentage between 1% and 100%/);
    }
    expect(refusal({ batchSize: 4, loadBalancer: undefined })).toMatch(/^batchSize 4 is invalid: there are only 3 hosts; use at most 3/);
    expect(refusal({ batchSize: 3 })).toMatch(/^batchSize 3 is invalid: it would hide all 3 hosts of role "web" at once .* use at most 2 \(or "66%"\)/);
    expect(refusal({ batchSize: "100%" })).toMatch(/^batchSize "100%" is invalid: it would hide all 3 hosts/);
    expect(refusal({ batchSize: "67%" })).toMatch(/^batchSize "67%" is invalid: it would hide all 3 hosts/);
    // A single web host behind the balancer, next to a worker: hiding it empties the tier.
    const [w] = fleet(1);
    expect(refusal({ hosts: [w, host("worker1", 5, ["worker"])] })).toMatch(/role "web" has a single host, so hiding it empties the load balancer; add a second host of that role/);
    expect(() => validateDeployment(args({ batchSize: 3, loadBalancer: undefined }))).not.toThrow();
  });

  it("keepReleases below 2 or not a whole number", () => {
    for (const bad of [1, 0, -5, 2.5, "5"] as never[]) {
      expect(refusal({ keepReleases: bad })).toMatch(/^keepReleases .* is invalid: use a whole number ≥ 2: the current release and the previous one/);
    }
  });

  it("unknown roles in build hooks, checks and smoke roles; a load balancer role no host has", () => {
    expect(refusal({ prepare: { buildHooks: { wrker: ["make"] } } })).toMatch(/prepare\.buildHooks\.wrker names role "wrker", which no host has \(roles: web\); fix the role name/);
    expect(refusal({ checks: { db: "none" } })).toMatch(/checks\.db names role "db"/);
    expect(refusal({ smoke: { path: "/healthz", roles: ["api"] } })).toMatch(/smoke\.roles names role "api"/);
    expect(refusal({ loadBalancer: { kind: "haproxy", role: "api", context: undefined as never } })).toMatch(/no host has the load balancer's role "api"/);
  });

  it("smoke paths and deadlines", () => {
    expect(refusal({ smoke: { path: "healthz" } })).toMatch(/smoke\.path "healthz" is invalid: give the URL path/);
    expect(refusal({ smoke: { path: "/a b" } })).toMatch(/smoke\.path/);
    expect(refusal({ smoke: { path: "/healthz", deadlineSeconds: 0 } })).toMatch(/^smoke\.deadlineSeconds 0 is invalid: use a whole number between 1 and 3600 \(seconds\)/);
    expect(refusal({ checks: { web: { command: "true", deadlineSeconds: -1 } } })).toMatch(/^checks\.web\.deadlineSeconds -1 is invalid/);
  });

  it("commands: empty install, hooks, migration; migration host not in hosts", () => {
    expect(refusal({ prepare: { installCommand: "  " } })).toMatch(/^prepare\.installCommand "  " is invalid: give a non-empty shell command/);
    expect(refusal({ prepare: { buildHooks: { web: ["ok", ""] } } })).toMatch(/^prepare\.buildHooks\.web\[1\]/);
    expect(refusal({ migration: { host: "db1", command: "migrate" } })).toMatch(/migration\.host "db1" is not one of the hosts \(web1, web2, web3\)/);
    expect(refusal({ migration: { host: "web1", command: "" } })).toMatch(/^migration\.command/);
  });

  it("exactly one of artifact and releaseId", () => {
    expect(refusal({ artifact: undefined })).toMatch(/give exactly one of artifact .* and releaseId/);
    expect(refusal({ releaseId: "v1-0123456789ab" })).toMatch(/give exactly one of artifact/);
  });

  it("time limits: an unknown name is refused with the nearest known one", () => {
    expect(refusal({ timeouts: { restrat: 10 } as never })).toBe("timeouts.restrat: unknown key; did you mean restart?");
    expect(refusal({ timeouts: { restart: 0 } })).toMatch(/^timeouts\.restart 0 is invalid: use a whole number between 1 and 86400 \(seconds\)/);
  });
});

describe("validateRollout needs only the hosts' names and roles (the stack program checks its config with it)", () => {
  const hosts = [{ name: "web1", roles: ["web"] }, { name: "web2", roles: ["web"] }, { name: "worker1", roles: ["worker"] }];
  const rollout = (over: object) => () => validateRollout({ deployer: "alice", stack: "dev", hosts, loadBalancerRole: "web", ...over });

  it("refuses a batch that empties the balanced role, a role no host has, a migration host that is not a host", () => {
    expect(rollout({ batchSize: 2 })).toThrow(/^batchSize 2 is invalid: it would hide all 2 hosts of role "web" at once/);
    expect(rollout({ checks: { wrker: "none" } })).toThrow(/^checks\.wrker names role "wrker", which no host has \(roles: web, worker\)/);
    expect(rollout({ migration: { host: "db1", command: "migrate" } })).toThrow('migration.host "db1" is not one of the hosts (web1, web2, worker1); name one of them');
    expect(rollout({ batchSize: 1, migration: { host: "web1", command: "migrate" } })).not.toThrow();
  });
});

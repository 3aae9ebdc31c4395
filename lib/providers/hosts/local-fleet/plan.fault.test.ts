// A local fleet's layout is refused up front when two machines would collide (same name,
// same address and port) or an argument is unsafe, naming the argument and the fix.
import { describe, expect, it } from "vitest";
import { LocalFleetSpec, planFleet, validateFleetSpec } from "./plan";

const spec = (over: Partial<LocalFleetSpec> = {}): LocalFleetSpec => ({
  name: "dev",
  subnet: "127.95.0",
  hosts: [
    { name: "web1", roles: ["web"] },
    { name: "web2", roles: ["web"] },
  ],
  sshPort: 2222,
  appPort: 8080,
  lbPort: 8080,
  lbRole: "web",
  baseDir: "/var/lib/cutover/fleets",
  deployUser: "deploy",
  appUser: "app",
  ...over,
});

const refusal = (over: Partial<LocalFleetSpec>) => {
  try {
    validateFleetSpec(spec(over));
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(over)}`);
};

describe("local fleet plan refuses collisions and unsafe arguments", () => {
  it("every machine gets its own address", () => {
    const plan = planFleet(spec({ hosts: Array.from({ length: 200 }, (_, i) => ({ name: `h${i}`, roles: ["web"] })) }));
    const addresses = plan.machines.map((m) => m.address);
    expect(new Set(addresses).size).toBe(addresses.length);
    expect(addresses.every((a) => /^127\.95\.0\.\d{1,3}$/.test(a) && Number(a.split(".")[3]) <= 255)).toBe(true);
  });

  it("duplicate host names and the fleet's own machine names", () => {
    expect(refusal({ hosts: [{ name: "web1", roles: ["web"] }, { name: "web1", roles: ["web"] }] })).toBe(
      'local fleet: hosts[].name "web1" is invalid: host names must be unique',
    );
    expect(refusal({ hosts: [{ name: "lb", roles: ["web"] }] })).toMatch(/hosts\[\]\.name "lb" is invalid: gateway and lb are the fleet's own machines; rename the host/);
  });

  it("two services on one address and port", () => {
    expect(refusal({ lbPort: 2222 })).toBe('local fleet: lbPort 2222 is invalid: must differ from sshPort (the load balancer listens beside its sshd)');
    expect(refusal({ appPort: 2222 })).toMatch(/appPort 2222 is invalid: must differ from sshPort/);
  });

  it("empty host lists, hosts without roles, a load-balanced role no host has", () => {
    expect(refusal({ hosts: [] })).toMatch(/hosts \[\] is invalid: give at least one host/);
    expect(refusal({ hosts: [{ name: "web1", roles: [] }] })).toMatch(/hosts\[web1\]\.roles \[\] is invalid: give the host at least one role/);
    expect(refusal({ lbRole: "api" })).toMatch(/lbRole "api" is invalid: no host has this role/);
  });

  it("names, paths and addresses with .., /, whitespace, quotes or shell syntax", () => {
    for (const name of ["web 1", "web/1", "../web", "web'1", "web;1", "Web1", "a".repeat(32)]) {
      expect(refusal({ hosts: [{ name, roles: ["web"] }] })).toMatch(/hosts\[\]\.name .* is invalid: use lowercase letters/);
    }
    for (const baseDir of ["/var/../etc", "var/lib", "/var/lib x", "/var/$(id)", "/var/'q'"]) {
      expect(refusal({ baseDir })).toMatch(/baseDir .* is invalid: use an absolute path of letters, digits, _ \. \/ - without \.\./);
    }
    for (const subnet of ["10.0.0", "127.0.0", "127.95", "127.95.0.1", "127.256.0"]) expect(refusal({ subnet })).toMatch(/^local fleet: subnet/);
    expect(refusal({ appUser: "root" })).toMatch(/appUser "root" is invalid: use a non-root user name/);
    expect(refusal({ appUser: "deploy" })).toMatch(/the app must run as a different user than the one that deploys it/);
  });
});

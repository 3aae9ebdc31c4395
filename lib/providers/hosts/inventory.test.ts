// The inventory of existing servers: what config turns into (hosts, gateway, balancer), and
// that every bad field fails before anything runs, naming the field and the fix.
import { describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { InventorySpec, parseInventory, publishInventory } from "./inventory";
import { hostContextOf } from "../../components/host";

const key = (n: number) => `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${"A".repeat(40)}${n}`;
const spec: InventorySpec = {
  user: "deploy",
  root: "/srv/shop",
  appPort: 8080,
  service: { systemd: { name: "shop" } },
  gateways: { bastion: { address: "bastion.example.net", hostKey: key(0) } },
  hosts: [
    { name: "web1", roles: ["web"], address: "10.0.1.11", hostKey: key(1), gateway: "bastion" },
    { name: "web2", roles: ["web"], address: "10.0.2.11", port: 2222, hostKey: `${key(2)} root@web2`, gateway: "bastion" },
    { name: "worker1", roles: ["worker"], address: "10.0.1.21", hostKey: key(3), gateway: "bastion", service: { restartCommand: "sudo -n /usr/bin/systemctl restart shop-worker.service" } },
  ],
  loadBalancer: { haproxy: { address: "10.0.1.5", hostKey: key(4), gateway: "bastion", adminSocket: "/run/haproxy/admin.sock", backend: "web" } },
};

const resolve = <T>(o: pulumi.Output<T>) => new Promise<T>((r) => o.apply(r));

describe("inventory of existing servers", () => {
  it("turns config into hosts reached through their gateway, restarted through the narrow sudo rule", async () => {
    const inv = parseInventory(spec, "PRIVATE");
    expect(inv.hosts.map((h) => [h.name, h.roles, h.root, h.restartCommand, h.app])).toEqual([
      ["web1", ["web"], "/srv/shop", "sudo -n /usr/bin/systemctl restart shop.service", { address: "10.0.1.11", port: 8080 }],
      ["web2", ["web"], "/srv/shop", "sudo -n /usr/bin/systemctl restart shop.service", { address: "10.0.2.11", port: 8080 }],
      ["worker1", ["worker"], "/srv/shop", "sudo -n /usr/bin/systemctl restart shop-worker.service", { address: "10.0.1.21", port: 8080 }],
    ]);
    const ctx = await resolve(hostContextOf(inv.hosts[1]));
    expect(ctx.ssh).toEqual({
      address: "10.0.2.11",
      port: 2222,
      user: "deploy",
      hostKey: key(2), // the comment is dropped: the runner compares the key itself
      privateKey: "PRIVATE",
      gateway: { address: "bastion.example.net", port: 22, user: "deploy", hostKey: key(0), privateKey: "PRIVATE" },
    });
    expect(inv.loadBalancer).toMatchObject({ adminSocket: "/run/haproxy/admin.sock", backend: "web", role: "web", host: { name: "lb" } });
  });

  it("HAProxy may run on one of the hosts, named", async () => {
    const inv = parseInventory({ ...spec, loadBalancer: { haproxy: { host: "worker1", adminSocket: "/run/haproxy/admin.sock", backend: "web" } } }, "PRIVATE");
    expect(inv.loadBalancer!.host).toBe(inv.hosts[2]);
    expect(() => parseInventory({ ...spec, loadBalancer: { haproxy: { host: "lb9", adminSocket: "/run/haproxy/admin.sock", backend: "web" } } }, "k")).toThrow(
      /^inventory\.loadBalancer\.haproxy\.host "lb9" is invalid: name one of the hosts \(web1, web2, worker1\), or give HAProxy's own address and hostKey instead/,
    );
  });

  it("keeps the private key a secret", async () => {
    const inv = parseInventory(spec, "PRIVATE");
    expect(await pulumi.isSecret(pulumi.output(inv.hosts[0].ssh.privateKey))).toBe(true);
  });

  it.each([
    [{ hosts: [] }, /^inventory\.hosts \[\] is invalid: list at least one host/],
    [{ ...spec, hosts: [{ ...spec.hosts[0], hostKey: undefined as never }] }, /^inventory\.hosts\[0\]\.hostKey \(missing\) is invalid: pin the server's public host key .*host keys are never skipped/],
    [{ ...spec, hosts: [{ ...spec.hosts[0], hostKey: "AAAA" }] }, /^inventory\.hosts\[0\]\.hostKey "AAAA" is invalid/],
    [{ ...spec, hosts: [{ ...spec.hosts[0], gateway: "jump" }] }, /^inventory\.hosts\[0\]\.gateway "jump" is invalid: name one of the gateways \(bastion\)/],
    [{ ...spec, hosts: [spec.hosts[0], spec.hosts[0]] }, /^inventory\.hosts\[1\]\.name "web1" is invalid: host names must be unique/],
    [{ ...spec, hosts: [{ ...spec.hosts[0], address: "10.0.0.1; rm -rf /" }] }, /^inventory\.hosts\[0\]\.address .* is invalid: give the server's IP address or DNS name/],
    [{ ...spec, service: undefined }, /^inventory\.hosts\[0\]\.service \(missing\) is invalid: say how the app restarts/],
    [{ ...spec, service: { systemd: { name: "shop; reboot" } } }, /^inventory\.hosts\[0\]\.service\.systemd\.name .* is invalid/],
    [{ ...spec, user: "root", hosts: [spec.hosts[0]] }, null],
    [{ ...spec, root: "srv" }, /^inventory\.hosts\[0\]\.root "srv" is invalid: use an absolute path/],
    [{ ...spec, loadBalancer: { haproxy: { ...spec.loadBalancer!.haproxy, backend: "api" } } }, /^inventory\.loadBalancer\.haproxy\.role "api" is invalid: no host has this role \(roles: web, worker\)/],
  ])("rejects bad input naming the field: %#", (bad, message) => {
    if (message === null) expect(() => parseInventory(bad as InventorySpec, "k")).not.toThrow();
    else expect(() => parseInventory(bad as InventorySpec, "k")).toThrow(message);
  });

  it("what a fleet stack publishes parses back into the same hosts", async () => {
    const inv = parseInventory(spec, "PRIVATE");
    const lb = inv.loadBalancer!;
    const published = await resolve(
      publishInventory({
        hosts: inv.hosts,
        gateways: { bastion: { name: "bastion", roles: [], ssh: inv.gateways.bastion, root: "/x", restartCommand: "true", app: { address: "x", port: 1 }, ready: [] } },
        loadBalancer: { host: lb.host, adminSocket: lb.adminSocket, backend: lb.backend },
      }),
    );
    expect(JSON.stringify(published)).not.toContain("PRIVATE");
    const again = parseInventory(published, "PRIVATE");
    const contexts = async (hosts: typeof inv.hosts) => Promise.all(hosts.map((h) => resolve(hostContextOf(h))));
    expect(await contexts(again.hosts)).toEqual(await contexts(inv.hosts));
    expect(await resolve(hostContextOf(again.loadBalancer!.host))).toEqual(await resolve(hostContextOf(lb.host)));
  });

  it("gives every host a standby slot for the overlap strategy, stopped through the same narrow sudo rule", async () => {
    const inv = parseInventory({ ...spec, standby: { appPort: 8081, service: { systemd: { name: "shop-b" } } } }, "PRIVATE");
    expect(inv.hosts[0].stopCommand).toBe("sudo -n /usr/bin/systemctl stop shop.service");
    expect(inv.hosts[0].standby).toEqual({
      port: 8081,
      restartCommand: "sudo -n /usr/bin/systemctl restart shop-b.service",
      stopCommand: "sudo -n /usr/bin/systemctl stop shop-b.service",
      server: "web1-b",
    });
    // A standby restarted by a command of its own must say how it stops, in one line.
    const byCommand = { ...spec, standby: { appPort: 8081, service: { restartCommand: "/usr/local/bin/restart-b" } } };
    expect(() => parseInventory(byCommand, "k")).toThrow(/^inventory\.standby\.service\.stopCommand \(missing\) is invalid: say how the standby slot stops/);
    // Published and read back (an app stack deploying through a fleet stack's inventory): the same slots.
    const published = await resolve(publishInventory({ hosts: inv.hosts, gateways: {} }));
    const again = parseInventory({ ...published, user: "deploy", gateways: spec.gateways }, "PRIVATE");
    expect(again.hosts.map((h) => [h.stopCommand, h.standby])).toEqual(inv.hosts.map((h) => [h.stopCommand, h.standby]));
  });
});

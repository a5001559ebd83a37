// Inventory on every backend: apply is idempotent and prints what changes; machines in use
// are never removed or moved; hardware identities (serial, MAC, switch port) stay unique.
import fs from "node:fs";
import path from "node:path";
import { applyInventoryFile } from "../../provider/inventory/apply";
import { InventoryConflict } from "../../provider/inventory/errors";
import { InventoryError, parseInventory } from "../../provider/inventory/schema";
import type { Store } from "../../provider/store/store";
import { claimServer, finishServer } from "../../provider/store/servers-sql";
import { attachPort, createVlan, detachPort } from "../../provider/store/vlans-sql";
import { backends, freshStore } from "../helpers/backends";
import { failure } from "../helpers/failure";

const FILE = fs.readFileSync(path.join(__dirname, "../fixtures/inventory.yaml"), "utf8");
const apply = (store: Store, text: string, prune = false, dryRun = false) =>
  applyInventoryFile(store, text, { prune, dryRun, actor: "tester" });

describe.each(backends)("inventory on $name", (backend) => {
  let store: Store;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ store, cleanup } = await freshStore(backend));
  });
  afterEach(() => cleanup());

  test("apply adds everything, a second apply changes nothing", async () => {
    const dry = await apply(store, FILE, false, true);
    expect(dry.lines).toContain("+ machine r1-01");
    expect((await store.inventory()).machines).toEqual([]);

    const first = await apply(store, FILE);
    expect(first.lines).toEqual([
      "+ facility lab1",
      "+ plan c3.small",
      "+ plan m3.large",
      "+ switch tor1",
      "+ machine r1-01",
      "+ machine r1-02",
      "+ machine r1-03",
      "+ pool lab1-public public_ipv4 198.51.100.0/24 (lab1)",
      "+ pool lab1-private private_ipv4 10.10.0.0/16 (lab1)",
    ]);
    const inv = await store.inventory();
    expect(inv.machines.map((m) => [m.id, m.state])).toEqual([
      ["r1-01", "available"],
      ["r1-02", "available"],
      ["r1-03", "available"],
    ]);
    // MACs are stored in one spelling.
    expect(inv.machines[0]!.nics[0]!.mac).toBe("0c:c4:7a:00:00:01");
    expect(inv.facilities[0]).toEqual({
      code: "lab1",
      name: "Lab one",
      vlans: { from: 1000, to: 1999 },
      provisioningVlan: 10,
      layer3Vlan: 20,
    });
    expect((await store.getPool("lab1-public"))?.facility).toBe("lab1");

    const again = await apply(store, FILE);
    expect(again).toEqual({ lines: [], changed: false });
  });

  test("a pool the IPAM would refuse fails the whole file, dry run or not, before anything is written", async () => {
    const overlapping = FILE.replace(
      "      - { name: lab1-private, type: private_ipv4, cidr: 10.10.0.0/16 }",
      "      - { name: lab1-private, type: private_ipv4, cidr: 10.10.0.0/16 }\n" +
        "      - { name: lab1-mgmt, type: private_ipv4, cidr: 10.10.1.0/24 }\n" +
        "      - { name: lab1-v6, type: private_ipv4, cidr: 2001:db8::/64 }",
    );
    for (const dryRun of [true, false]) {
      const e = await failure(apply(store, overlapping, false, dryRun), InventoryError);
      expect(e.message).toMatch(/facility lab1: pool lab1-mgmt \(10.10.1.0\/24\) overlaps pool lab1-private/);
      expect(e.message).toMatch(
        /facility lab1: pool lab1-v6: 2001:db8::\/64 is IPv6, but a private_ipv4 pool/,
      );
    }
    expect(await store.inventory()).toMatchObject({ facilities: [], plans: [], machines: [] });
    expect(await store.listPools()).toEqual([]);

    // Against a pool already in the store too; the plan change in the same file waits with it.
    await apply(store, FILE);
    const later = FILE.replace("memoryGb: 32", "memoryGb: 64").replace(
      "      - { name: lab1-private, type: private_ipv4, cidr: 10.10.0.0/16 }",
      "      - { name: lab1-private, type: private_ipv4, cidr: 10.10.0.0/16 }\n" +
        "      - { name: lab1-more, type: private_ipv4, cidr: 10.10.128.0/17 }",
    );
    await expect(apply(store, later)).rejects.toThrow(
      /pool lab1-more \(10.10.128.0\/17\) overlaps pool lab1-private/,
    );
    expect((await store.inventory()).plans.find((p) => p.name === "c3.small")?.memoryGb).toBe(32);
  });

  test("a facility's range and provisioning VLAN cannot leave out or take a project's VLAN", async () => {
    await apply(store, FILE);
    await store.transact((at) =>
      createVlan(
        { id: "v1", owner: null, project: "demo", facility: "lab1", vid: 1500, description: null, tags: [] },
        "tester",
        at,
      ),
    );
    const moves = [
      FILE.replace("to: 1999", "to: 1100").replace("provisioningVlan: 10", "provisioningVlan: 1500"),
      FILE.replace("to: 1999", "to: 1400"),
    ];
    for (const moved of moves) {
      const e = await failure(apply(store, moved), InventoryConflict);
      expect(e.code).toBe("FacilityInUse");
      expect(e.message).toMatch(
        /^facility lab1: .* would leave out or take VLANs projects hold: 1500 \(project demo\)/,
      );
    }
    expect((await store.inventory()).facilities[0]).toMatchObject({
      vlans: { from: 1000, to: 1999 },
      provisioningVlan: 10,
    });
  });

  test("a pool's description changes in place, shown and applied; a dry run changes nothing", async () => {
    await apply(store, FILE);
    const described = FILE.replace(
      "{ name: lab1-private, type: private_ipv4, cidr: 10.10.0.0/16 }",
      '{ name: lab1-private, type: private_ipv4, cidr: 10.10.0.0/16, description: "rack A servers" }',
    );
    const line = '~ pool lab1-private: description (none) -> "rack A servers"';
    expect(await apply(store, described, false, true)).toEqual({ lines: [line], changed: true });
    expect((await store.getPool("lab1-private"))?.description).toBeNull();
    expect(await apply(store, described)).toEqual({ lines: [line], changed: true });
    expect((await store.getPool("lab1-private"))?.description).toBe("rack A servers");
    expect((await apply(store, described)).changed).toBe(false);
  });

  test("a pool whose type, range, facility or project the file changes is refused, naming what differs", async () => {
    await apply(store, FILE);
    const moved = FILE.replace(
      "{ name: lab1-private, type: private_ipv4, cidr: 10.10.0.0/16 }",
      "{ name: lab1-private, type: private_ipv4, cidr: 10.10.0.0/16, project: web }",
    );
    const e = await failure(apply(store, moved), InventoryError);
    expect(e.problems).toEqual([
      "facility lab1: pool lab1-private exists with project any project, the file says web: a pool's type, range, facility " +
        "and project do not change in place; remove it with `baremetal ipam pool remove` (once it has no reservations) " +
        "and apply again, or put the file back",
    ]);
    expect((await store.getPool("lab1-private"))?.project).toBeNull();
  });

  test("the provisioning VLAN does not move while servers use it", async () => {
    await apply(store, FILE);
    await store.setMachineState("r1-02", ["available"], "provisioning", null, "tester");
    const moved = FILE.replace("provisioningVlan: 10", "provisioningVlan: 30");
    const e = await failure(apply(store, moved), InventoryConflict);
    expect([e.code, e.message]).toEqual([
      "FacilityInUse",
      "facility lab1: provisioningVlan 10 -> 30 while servers use it, on r1-02 (provisioning): their ports would stay " +
        "on the old VLAN; delete those servers first, or keep the VLAN",
    ]);
    expect((await store.inventory()).facilities[0]!.provisioningVlan).toBe(10);
    await store.setMachineState("r1-02", ["provisioning"], "available", null, "tester");
    expect((await apply(store, moved)).lines).toEqual(["~ facility lab1: provisioningVlan 10 -> 30"]);
  });

  test("the layer-3 VLAN does not move, come or go while layer3 or hybrid servers use it", async () => {
    const withL3 = FILE; // layer3Vlan: 20
    const without = FILE.replace(/^ {4}layer3Vlan: .*\n/m, "");
    expect((await apply(store, withL3)).lines).toContain("+ facility lab1");
    expect((await store.inventory()).facilities[0]!.layer3Vlan).toBe(20);
    expect((await apply(store, withL3)).changed).toBe(false);
    const server = (id: string, machineId: string, spec: Record<string, unknown>) =>
      store.transact((at) =>
        claimServer(
          { id, owner: `org/p/s/${id}`, project: "p", facility: "lab1", machineId, hostname: id, spec },
          "tester",
          at,
        ),
      );
    await server("l3", "r1-02", {}); // layer3, the default
    await server("l2", "r1-03", { networkType: "layer2" });
    const moved = withL3.replace("layer3Vlan: 20", "layer3Vlan: 30");
    const e = await failure(apply(store, moved), InventoryConflict);
    expect([e.code, e.message]).toEqual([
      "FacilityInUse",
      "facility lab1: layer3Vlan 20 -> 30 while layer3 or hybrid servers use it, on r1-02 (provisioning): their " +
        "ports would stay on the old network; delete those servers first, or keep it",
    ]);
    // Taken away, the servers' network would be the provisioning VLAN: the same refusal.
    expect((await failure(apply(store, without), InventoryConflict)).message).toMatch(
      /^facility lab1: layer3Vlan 20 -> none /,
    );
    expect((await store.inventory()).facilities[0]!.layer3Vlan).toBe(20);
    await store.transact((at) => finishServer("l3", "available", null, "tester", at));
    // A layer2 server's ports never carry it.
    expect((await apply(store, moved)).lines).toEqual(["~ facility lab1: layer3Vlan 20 -> 30"]);
  });

  test("a facility missing from the file is kept, and the line does not offer --prune for it", async () => {
    await apply(
      store,
      FILE.replace(
        "plans:\n",
        "  - { code: lab9, vlans: { from: 1000, to: 1999 }, provisioningVlan: 10 }\nplans:\n",
      ),
    );
    const r = await apply(store, FILE, true, true);
    expect(r.lines).toContain("  facility lab9 is not in the file (kept; an apply never removes a facility)");
  });

  test("a switch's uplinks are kept with it, and a change of them shows", async () => {
    await apply(store, FILE);
    const uplinked = FILE.replace(
      "privateKeyRef: { env: TOR1_SSH_KEY }",
      "privateKeyRef: { env: TOR1_SSH_KEY }\n    uplinks: [swp49, swp50]",
    );
    const r = await apply(store, uplinked);
    expect(r.changed).toBe(true);
    expect(r.lines.join("\n")).toMatch(/~ switch tor1: .*uplinks/);
    expect((await store.inventory()).switches[0]!.uplinks).toEqual(["swp49", "swp50"]);
    expect((await apply(store, uplinked)).changed).toBe(false);
  });

  test("a changed field shows as an update naming the field", async () => {
    await apply(store, FILE);
    const r = await apply(store, FILE.replace("memoryGb: 32", "memoryGb: 64"));
    expect(r.lines).toEqual(["~ plan c3.small: memoryGb 32 -> 64"]);
    expect((await store.inventory()).plans.find((p) => p.name === "c3.small")?.memoryGb).toBe(64);
  });

  test("machines missing from the file stay unless pruned; a machine in use is never removed or moved", async () => {
    await apply(store, FILE);
    const without03 = FILE.slice(0, FILE.indexOf("  - id: r1-03"));
    expect((await apply(store, without03)).lines).toEqual([
      "  machine r1-03 is not in the file (kept; --prune removes it)",
    ]);
    expect((await apply(store, without03)).changed).toBe(false);

    await store.setMachineState("r1-03", ["available"], "provisioning", null, "tester");
    const inUse = await failure(apply(store, without03, true), InventoryConflict);
    expect(inUse.code).toBe("MachineInUse");
    expect(inUse.message).toMatch(/machine r1-03 is provisioning/);
    // A dry run is refused the same way, not told it would work.
    const dry = await failure(apply(store, without03, true, true), InventoryConflict);
    expect([dry.code, dry.message]).toEqual([inUse.code, inUse.message]);
    // Nothing of the refused apply was written.
    expect((await store.inventory()).machines).toHaveLength(3);

    const moved = await failure(
      apply(
        store,
        FILE.replace("plan: m3.large\n    serial: SN-0003", "plan: c3.small\n    serial: SN-0003"),
      ),
      InventoryConflict,
    );
    expect(moved.code).toBe("MachineInUse");
    // Nor recabled: its old port would keep the tenant's VLAN, with nothing recording it.
    const recabled = await failure(apply(store, FILE.replace("port: swp3", "port: swp9")), InventoryConflict);
    expect(recabled.code).toBe("MachineInUse");
    expect(recabled.message).toBe(
      "machine r1-03: its NICs (MAC, switch, port) can change once it is available or in maintenance with no VLAN on its ports; it is provisioning",
    );

    await store.setMachineState("r1-03", ["provisioning"], "quarantine", "wipe failed", "tester");
    // Quarantined with a port still recorded on a VLAN: still not recabled.
    await store.transact(function* (at) {
      yield* createVlan(
        { id: "v1", owner: null, project: "p", facility: "lab1", vid: 1001, description: null, tags: [] },
        "tester",
        at,
      );
      yield* attachPort(
        {
          vlanId: "v1",
          serverId: "s1",
          machineId: "r1-03",
          nic: "eth0",
          switch: "tor1",
          port: "swp3",
          mode: "access",
        },
        "tester",
        at,
      );
    });
    expect(
      (await failure(apply(store, FILE.replace("port: swp3", "port: swp9")), InventoryConflict)).message,
    ).toMatch(/it is quarantine, and tor1 swp3 carry a VLAN$/);
    // Nor removed: the records would name a machine that is gone, its port keeping the VLAN.
    const carrying = await failure(apply(store, without03, true), InventoryConflict);
    expect([carrying.code, carrying.message]).toEqual([
      "MachineInUse",
      "machine r1-03: tor1 swp3 carry a VLAN; it can be removed once they do not (deleting the server that put it there, or the Vlan with forceDelete, resets them)",
    ]);
    await store.transact((at) => detachPort("v1", "tor1", "swp3", "tester", at));
    expect((await apply(store, FILE.replace("port: swp3", "port: swp9"))).lines).toEqual([
      expect.stringContaining("~ machine r1-03"),
    ]);
    // A dry run that would work says so and changes nothing.
    expect((await apply(store, without03, true, true)).lines).toEqual(["- machine r1-03"]);
    expect((await store.inventory()).machines).toHaveLength(3);
    const pruned = await apply(store, without03, true);
    expect(pruned.lines).toEqual(["- machine r1-03"]);
    expect((await store.inventory()).machines.map((m) => m.id)).toEqual(["r1-01", "r1-02"]);
  });

  test("a MAC or switch port already taken by another machine is refused by name", async () => {
    await apply(store, FILE);
    // r1-04 arrives in a later file on r1-01's switch port, while r1-01 is kept.
    const extra = `${FILE}
  - id: r1-04
    facility: lab1
    plan: c3.small
    serial: SN-0004
    bmc:
      ipmi: { host: 10.0.1.4, username: root, passwordRef: { env: R1_BMC_PASSWORD } }
    nics:
      - { name: eth0, mac: "0c:c4:7a:00:00:09", switch: tor1, port: swp1 }
`;
    // The file itself repeats the port: caught before the store is touched.
    const e = await failure(apply(store, extra), InventoryError);
    expect(e.problems).toEqual(["machines.3.nics.0: switch port tor1:swp1 is also at machines.0.nics.0"]);

    // A file without r1-02 leaves it in the store; a new machine on its MAC is refused there.
    const renamed = FILE.replace("id: r1-02", "id: r1-05").replace("serial: SN-0002", "serial: SN-0005");
    const dup = await failure(apply(store, renamed), InventoryConflict);
    expect(dup.code).toBe("DuplicateHardware");
    expect(dup.message).toBe("machine r1-05: MAC 0c:c4:7a:00:00:02 already belongs to machine r1-02");
    expect((await failure(apply(store, renamed, false, true), InventoryConflict)).message).toBe(dup.message);
    expect((await store.inventory()).machines.map((m) => m.id)).toEqual(["r1-01", "r1-02", "r1-03"]);
    // Its serial likewise.
    const sameSerial = FILE.replace("id: r1-02", "id: r1-05");
    const serial = await failure(apply(store, sameSerial), InventoryConflict);
    expect(serial.message).toBe("machine r1-05: serial SN-0002 already belongs to machine r1-02");
    // With --prune r1-02 leaves first and r1-05 takes its place.
    await apply(store, renamed, true);
    expect((await store.inventory()).machines.map((m) => m.id)).toEqual(["r1-01", "r1-03", "r1-05"]);
  });

  test("machine states: maintenance, release, and refusals", async () => {
    await apply(store, FILE);
    const m = await store.setMachineState(
      "r1-02",
      ["available", "quarantine"],
      "maintenance",
      "fan noise",
      "ops",
    );
    expect([m.state, m.stateReason]).toEqual(["maintenance", "fan noise"]);
    await store.setMachineState("r1-02", ["maintenance"], "available", "fan replaced", "ops");
    await store.setMachineState("r1-02", ["available"], "active", null, "tester");
    const busy = await failure(
      store.setMachineState("r1-02", ["quarantine", "maintenance"], "available", "x", "ops"),
      InventoryConflict,
    );
    expect(busy.code).toBe("MachineStateConflict");
    expect(busy.message).toBe("machine r1-02 is active; this needs it to be quarantine or maintenance");
    const missing = await failure(
      store.setMachineState("nope", ["available"], "maintenance", null, "ops"),
      InventoryConflict,
    );
    expect(missing.code).toBe("MachineNotFound");
    const events = await store.events(5);
    expect(events[0]).toMatchObject({ actor: "tester", action: "machine.active", subject: "r1-02" });
  });
});

describe("inventory file checks", () => {
  const problems = (text: string) => {
    try {
      parseInventory(text);
    } catch (e) {
      if (e instanceof InventoryError) return e.problems;
      throw e;
    }
    return [];
  };

  test("a plaintext secret is refused with the reference to write instead", () => {
    expect(
      problems(
        FILE.replace(
          "passwordRef: { env: R1_BMC_PASSWORD }, cipherSuite: 17",
          "password: hunter2, cipherSuite: 17",
        ),
      ),
    ).toEqual([
      "machines.0.bmc.ipmi.password: secrets are not stored in the inventory; write passwordRef: {env: VARIABLE_NAME} or {secret: configKey}",
    ]);
  });

  test("a machine's boot mode is uefi or legacy, kept with its BMC", () => {
    const withMode = (mode: string) =>
      FILE.replace(
        "passwordRef: { env: R1_BMC_PASSWORD }, cipherSuite: 17 }",
        `passwordRef: { env: R1_BMC_PASSWORD }, cipherSuite: 17 }\n      bootMode: ${mode}`,
      );
    expect(problems(withMode("bios"))).toEqual(["machines.0.bmc.bootMode: bootMode must be uefi or legacy"]);
    expect(parseInventory(withMode("uefi")).machines[0]!.bmc.bootMode).toBe("uefi");
  });

  test("the layer-3 VLAN is one of its own, outside the projects' range", () => {
    const l3 = (v: number) => FILE.replace(/layer3Vlan: 20\b/, `layer3Vlan: ${v}`);
    expect(problems(l3(10))).toEqual([
      "facilities.0.layer3Vlan: 10 is the provisioningVlan; give installed servers a VLAN of their own (or leave layer3Vlan out)",
    ]);
    expect(problems(l3(1500))).toEqual([
      "facilities.0.layer3Vlan: 1500 is inside the project range 1000-1999; it must not be handed out",
    ]);
    expect(problems(l3(1))).toEqual([
      "facilities.0.layer3Vlan: a VLAN id is 2-4094 (1 is every switch's default VLAN)",
    ]);
    expect(problems(l3(20))).toEqual([]);
  });

  test("a BMC URL holding a user or password, or more than the BMC's address, is refused", () => {
    const url = (u: string) => problems(FILE.replace('url: "https://10.0.1.3"', `url: "${u}"`));
    expect(url("https://root:hunter2@10.0.1.3")).toEqual([
      "machines.2.bmc.redfish.url: no user or password in the URL: they would be stored and shown; give username and passwordRef",
    ]);
    for (const u of ["https://10.0.1.3/redfish/v1", "https://10.0.1.3/?x=1", "https://10.0.1.3/#a"]) {
      expect(url(u)).toEqual([
        "machines.2.bmc.redfish.url: the BMC's address only, like https://10.0.0.5 or https://bmc1:8443: the driver finds /redfish/v1 itself",
      ]);
    }
    expect(url("https://10.0.1.3:8443/")).toEqual([]);
  });

  test("each bad field is named, with what would be valid", () => {
    const bad = FILE.replace('mac: "0c:c4:7a:00:00:02"', 'mac: "zz"')
      .replace("port: swp3", "port: Ethernet3")
      .replace("provisioningVlan: 10", "provisioningVlan: 1500")
      .replace('url: "https://10.0.1.3"', 'url: "http://10.0.1.3"')
      .replace("dialect: cumulus", "dialect: cumulus");
    const p = problems(bad);
    expect(p).toContain('machines.1.nics.0.mac: a MAC address like "0c:c4:7a:12:34:56"');
    expect(p).toContain(
      "machines.2.bmc.redfish.url: https:// only: the BMC password must not travel in clear",
    );
    const worse = FILE.replace('mac: "0c:c4:7a:00:00:02"', 'mac: "ff:ff:ff:ff:ff:ff"')
      .replace("ipmi: { host: 10.0.1.2,", 'ipmi: { host: "bad host;rm -rf",')
      .replace('{ name: eth0, mac: "0C:C4', '{ name: "not an interface!", mac: "0C:C4');
    expect(problems(worse)).toEqual(
      expect.arrayContaining([
        "machines.1.nics.0.mac: a NIC's own (unicast) MAC address: not broadcast, multicast or all zeros",
        "machines.1.bmc.ipmi.host: a host name or an IP address (without a port)",
        'machines.0.nics.0.name: a Linux interface name, 1-15 letters, digits, "_", "." or "-"',
      ]),
    );
    // Hosts are addresses or names, not strings of the right characters.
    for (const h of [
      "10.0.1.2:623",
      "300.1.2.3",
      "10.0.1",
      "::::",
      ":",
      "fe80::1%eth0",
      "-bmc.lab",
      "a..b",
    ]) {
      expect(problems(FILE.replace("ipmi: { host: 10.0.1.2,", `ipmi: { host: "${h}",`))).toEqual([
        "machines.1.bmc.ipmi.host: a host name or an IP address (without a port)",
      ]);
    }
    for (const h of ["2001:db8::10", "::ffff:10.0.1.2", "bmc-r1-02.lab.example", "10.0.1.2"]) {
      expect(problems(FILE.replace("ipmi: { host: 10.0.1.2,", `ipmi: { host: "${h}",`))).toEqual([]);
    }
  });

  test("cross references and ranges are checked on a valid shape", () => {
    expect(problems(FILE.replace("provisioningVlan: 10", "provisioningVlan: 1"))).toEqual([
      "facilities.0.provisioningVlan: a VLAN id is 2-4094 (1 is every switch's default VLAN)",
    ]);
    const bad = FILE.replace("port: swp3", "port: Ethernet3")
      .replace("provisioningVlan: 10", "provisioningVlan: 1500")
      .replace("plan: m3.large\n    serial", "plan: m9.huge\n    serial");
    expect(problems(bad)).toEqual([
      "facilities.0.provisioningVlan: 1500 is inside the project range 1000-1999; it must not be handed out",
      'machines.2.plan: no plan "m9.huge" in this inventory',
      'machines.2.nics.0.port: "Ethernet3" is not a cumulus port name (expected names like swp1, swp49s0, bond1)',
    ]);
    const twice = FILE.replace(
      '      - { name: eth0, mac: "0c:c4:7a:00:00:02", switch: tor1, port: swp2 }',
      '      - { name: eth0, mac: "0c:c4:7a:00:00:02", switch: tor1, port: swp2 }\n' +
        '      - { name: eth0, mac: "0c:c4:7a:00:00:12", switch: tor1, port: swp12 }',
    );
    expect(problems(twice)).toEqual(["machines.1.nics.1: NIC name eth0 is also at machines.1.nics.0"]);
    // A switch's uplinks: its dialect's port names, and no machine cabled to one.
    const uplinked = FILE.replace(
      "privateKeyRef: { env: TOR1_SSH_KEY }",
      "privateKeyRef: { env: TOR1_SSH_KEY }\n    uplinks: [swp3, Ethernet49]",
    );
    expect(problems(uplinked)).toEqual([
      'switches.0.uplinks.1: "Ethernet49" is not a cumulus port name (expected names like swp1, swp49s0, bond1)',
      "machines.2.nics.0.port: swp3 is an uplink of switch tor1; a machine's port carries only its own VLANs",
    ]);
  });
});

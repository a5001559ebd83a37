// The `linux` dialect (a VLAN-aware bridge) against the lab switch's vlan-aware form, over a
// real sshd. Trunks are shown by traffic: frames between the switch and a server carry real
// 802.1Q tags, the server's tagged interfaces (eth0.<vid>) send and receive them, and a VLAN
// reaches exactly the ports that carry it. This kernel has no 802.1Q; the lab's
// vlan-datapath does the tagging with BPF programs (see test/lab/switch.ts).
import { HardwareError } from "../../provider/hardware/errors";
import { openSwitch, type Switch } from "../../provider/hardware/switch";
import { failure as failureOf } from "../helpers/failure";
import { startSwitch, type SwitchLab } from "../lab/switch";

jest.setTimeout(180_000);

let lab: SwitchLab;
let sw: Switch;

beforeAll(async () => {
  lab = await startSwitch({ ports: 5, form: "vlan-aware" });
  sw = openSwitch(lab.endpoint(), "linux", { commandTimeoutMs: 30_000 });
});

afterAll(async () => {
  await sw?.close();
  await lab?.stop();
});

// Servers 0..4 sit on swp1..swp5; each has 10.99.0.<n+1>/24 untagged on eth0.
const NATIVE = (n: number) => `10.99.0.${n + 1}`;

test("a trunk carries its native VLAN untagged and its allowed VLANs tagged, and nothing else", async () => {
  for (const v of [10, 20, 30, 40]) await sw.ensureVlan(v);
  expect(await sw.listVlans()).toEqual([10, 20, 30, 40]);

  expect(await sw.setTrunk("swp1", { nativeVlan: 10, allowedVlans: [30, 20] })).toEqual({
    port: "swp1",
    mode: "trunk",
    nativeVlan: 10,
    allowedVlans: [20, 30],
  });
  await sw.setAccess("swp2", 10);
  await sw.setAccess("swp3", 20);
  await sw.setAccess("swp4", 40);
  await sw.setAccess("swp5", 30);

  // Server 0, on the trunk, has a tagged interface for each VLAN, 40 included: the switch
  // decides what reaches it.
  for (const v of [20, 30, 40]) lab.tag(0, v, `10.${v}.0.1/24`);
  lab.addAddress(2, "10.20.0.3/24");
  lab.addAddress(3, "10.40.0.4/24");
  lab.addAddress(4, "10.30.0.5/24");

  expect(lab.reaches(1, NATIVE(0))).toBe(true); // native VLAN 10, untagged both ways
  expect(lab.reaches(2, "10.20.0.1")).toBe(true); // tagged 20 on the trunk, untagged on swp3
  expect(lab.reaches(4, "10.30.0.1")).toBe(true);
  expect(lab.reaches(3, "10.40.0.1")).toBe(false); // 40 is not allowed on the trunk
  expect(lab.reaches(2, NATIVE(0))).toBe(false); // VLAN 20's port does not reach the native VLAN
  expect(lab.reaches(2, NATIVE(1))).toBe(false); // nor VLAN 10's access port

  // A change of allowed VLANs applies at once, both ways.
  await sw.setTrunk("swp1", { nativeVlan: 10, allowedVlans: [20, 40] });
  expect(await sw.readPort("swp1")).toEqual({
    port: "swp1",
    mode: "trunk",
    nativeVlan: 10,
    allowedVlans: [20, 40],
  });
  expect(lab.reaches(3, "10.40.0.1")).toBe(true);
  expect(lab.reaches(4, "10.30.0.1")).toBe(false);
  expect(lab.reaches(1, NATIVE(0))).toBe(true);
});

test("a trunk asked to carry only its native VLAN is an access port in it, and one carrying nothing is none", async () => {
  for (const v of [10, 20]) await sw.ensureVlan(v);
  await sw.setTrunk("swp5", { nativeVlan: 10, allowedVlans: [20] });
  expect(await sw.setTrunk("swp5", { nativeVlan: 10, allowedVlans: [] })).toEqual({
    port: "swp5",
    mode: "access",
    vlan: 10,
  });
  expect(await sw.setTrunk("swp5", { nativeVlan: 20, allowedVlans: [20] })).toEqual({
    port: "swp5",
    mode: "access",
    vlan: 20,
  });
  expect(await sw.setTrunk("swp5", { allowedVlans: [] })).toEqual({ port: "swp5", mode: "none" });
  await sw.setAccess("swp5", 30);
});

test("two trunks share a tagged VLAN; a trunk without a native VLAN drops untagged frames", async () => {
  await sw.setTrunk("swp5", { allowedVlans: [20] });
  lab.tag(4, 20, "10.20.0.5/24");
  expect(lab.reaches(4, "10.20.0.1")).toBe(true); // tagged on both trunks
  expect(lab.reaches(4, "10.20.0.3")).toBe(true); // and untagged on the access port
  expect(lab.reaches(4, NATIVE(0))).toBe(false); // no native VLAN on swp5
  expect(await sw.readPort("swp5")).toEqual({ port: "swp5", mode: "trunk", allowedVlans: [20] });
});

test("removing a port's VLANs cuts it off, and a VLAN in use is not removed", async () => {
  const inUse = await failureOf(sw.removeVlan(20), HardwareError);
  expect(inUse.code).toBe("VlanInUse");
  expect(inUse.message).toMatch(/swp1, swp3, swp5/);

  await sw.resetPort("swp1");
  expect(await sw.readPort("swp1")).toEqual({ port: "swp1", mode: "none" });
  expect(lab.reaches(1, NATIVE(0))).toBe(false);
  expect(lab.reaches(2, "10.20.0.1")).toBe(false);
  expect(lab.reaches(4, "10.20.0.3")).toBe(true); // the rest of VLAN 20 is untouched

  for (const p of ["swp2", "swp3", "swp4", "swp5"]) await sw.resetPort(p);
  for (const v of [10, 20, 30, 40]) await sw.removeVlan(v);
  expect(await sw.listVlans()).toEqual([]);
});

test("a port the switch does not have is a named error, and changes nothing", async () => {
  await sw.ensureVlan(50);
  const e = await failureOf(sw.setTrunk("swp9", { nativeVlan: 50, allowedVlans: [50] }), HardwareError);
  expect(e.code).toBe("PortNotFound");
  expect(await sw.readPort("swp1")).toEqual({ port: "swp1", mode: "none" });
  await sw.removeVlan(50);
  expect(await sw.listVlans()).toEqual([]);
});

test("a VLAN made on a switch with an uplink crosses it tagged; removed, it is off the uplink too", async () => {
  // Server 0, on swp1, stands for the rest of the network behind the switch's uplink. The
  // operator has the uplink in the bridge (here: a trunk carrying nothing yet).
  await sw.setTrunk("swp1", { allowedVlans: [] });
  const withUplink = openSwitch(lab.endpoint(), "linux", { commandTimeoutMs: 30_000, uplinks: ["swp1"] });
  try {
    await withUplink.ensureVlan(60);
    expect(await withUplink.readPort("swp1")).toEqual({ port: "swp1", mode: "trunk", allowedVlans: [60] });
    await withUplink.setAccess("swp2", 60);
    lab.tag(0, 60, "10.60.0.1/24");
    lab.addAddress(1, "10.60.0.2/24");
    expect(lab.reaches(1, "10.60.0.1")).toBe(true);

    // The uplink does not make the VLAN in use; the machine's port does.
    expect((await failureOf(withUplink.removeVlan(60), HardwareError)).message).toMatch(
      /still has ports swp2;/,
    );
    await withUplink.resetPort("swp2");
    await withUplink.removeVlan(60);
    expect(await withUplink.listVlans()).toEqual([]);
    expect(await withUplink.readPort("swp1")).toEqual({ port: "swp1", mode: "none" });
  } finally {
    await withUplink.close();
    await sw.resetPort("swp1");
  }
});

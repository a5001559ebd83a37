// Hybrid servers on the real peers: examples/private-vlan (networkType hybrid, its default)
// through the real engine, with the namespace switch in its vlan-aware form driven by the
// `linux` dialect over SSH. After the install each server's port is a trunk: the layer-3
// (provisioning) network untagged, the private VLAN tagged. Shown by traffic with real 802.1Q
// tags: the two servers reach each other on the VLAN through tagged interfaces (eth0.<vid>, as
// their OS would configure), keep reaching the boot server untagged, and a machine whose
// port does not carry the VLAN cannot reach them on it. A VLAN removed at the switch behind
// the provider's back shows in refresh, and the next up puts it back in place.
import type { ExampleStack } from "../../cli/example-stack";
import { openSwitch, type Switch } from "../../provider/hardware/switch";
import { listVlans } from "../../provider/store/vlans-sql";
import { reaches } from "../lab/ping";
import type { RealSite } from "../lab/real-site";
import { privateVlanSite, type PrivateVlanSite } from "../helpers/private-vlan-site";

jest.setTimeout(300_000);

let ex: ExampleStack;
let site: RealSite;
let stack: PrivateVlanSite | undefined;
let sw: Switch;
// The machines the two servers run on, by index into site.machines.
let a = -1;
let b = -1;
const log = (label: string) => (out: string) => process.stdout.write(`[${label}] ${out}`);

beforeAll(async () => {
  stack = await privateVlanSite("vlan-aware"); // networkType hybrid: the example's default
  ({ ex, site } = stack);
  // The test's own session to the switch, to read ports back and to place the outsider.
  sw = openSwitch(site.tor.endpoint(), "linux");
});

afterAll(async () => {
  await sw?.close();
  await stack?.stop();
});

test("hybrid servers reach each other tagged on their VLAN and the layer-3 network untagged", async () => {
  const up = await ex.stack.up({ onOutput: log("up") });
  expect(up.summary.result).toBe("succeeded");
  const vid = up.outputs.vlan!.value as number;
  const db = up.outputs.db!.value as { machine: string }[];

  const index = (machine: string) => site.machines.findIndex((m) => m.id === machine);
  [a, b] = db.map((d) => index(d.machine)) as [number, number];
  const outside = [0, 1, 2].find((i) => i !== a && i !== b)!;
  const boot = new URL(site.bootServerUrl).hostname;
  for (const i of [a, b]) {
    // The switch's own read-back: native provisioning VLAN, the private VLAN tagged.
    expect(await sw.readPort(site.machines[i]!.port)).toEqual({
      port: site.machines[i]!.port,
      mode: "trunk",
      nativeVlan: 10,
      allowedVlans: [vid],
    });
    expect(site.machines[i]!.phase()).toBe("running");
  }
  site.tor.tag(a, vid, "10.77.0.1/24");
  site.tor.tag(b, vid, "10.77.0.2/24");
  site.tor.tag(outside, vid, "10.77.0.3/24");
  expect(site.tor.reaches(a, "10.77.0.2")).toBe(true);
  expect(site.tor.reaches(b, "10.77.0.1")).toBe(true);
  expect(reaches(site.machines[a]!.namespace, boot)).toBe(true); // untagged, native

  // The outsider on the provisioning VLAN as an access port: it reaches the boot server, but
  // its tagged frames for the private VLAN are dropped at its port.
  await sw.setAccess(site.machines[outside]!.port, 10);
  expect(reaches(site.machines[outside]!.namespace, boot)).toBe(true);
  expect(site.tor.reaches(outside, "10.77.0.1")).toBe(false);
  expect(site.tor.reaches(outside, "10.77.0.2")).toBe(false);
  await sw.resetPort(site.machines[outside]!.port);
});

test("a VLAN taken off a port at the switch shows in refresh, and the next up puts it back", async () => {
  const vid = (await ex.stack.outputs()).vlan!.value as number;
  const port = site.machines[a]!.port;
  // Someone at the switch: the port keeps the layer-3 network, the private VLAN goes.
  await sw.setAccess(port, 10);
  expect(site.tor.reaches(a, "10.77.0.2")).toBe(false);

  const refresh = await ex.stack.refresh({ onOutput: log("refresh") });
  expect(refresh.summary.resourceChanges).toMatchObject({ update: 1 });
  const up = await ex.stack.up({ onOutput: log("repair") });
  expect(up.summary.resourceChanges).toMatchObject({ update: 1 });
  expect(up.summary.resourceChanges?.replace ?? 0).toBe(0);
  expect(await sw.readPort(port)).toEqual({ port, mode: "trunk", nativeVlan: 10, allowedVlans: [vid] });
  expect(site.tor.reaches(a, "10.77.0.2")).toBe(true);
  expect(site.tor.reaches(b, "10.77.0.1")).toBe(true);
});

test("destroy: ports reset, the VLAN gone from the switch and the store", async () => {
  const res = await ex.stack.destroy({ onOutput: log("destroy") });
  expect(res.summary.result).toBe("succeeded");
  for (const m of site.machines) expect(await sw.readPort(m.port)).toEqual({ port: m.port, mode: "none" });
  expect(await sw.listVlans()).toEqual([10]);
  const events = await site.store.events(200);
  expect(events.filter((e) => e.action === "wipe.done")).toHaveLength(2);
  expect(await site.store.transact(() => listVlans(), "read")).toEqual([]);
});

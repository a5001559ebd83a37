// VLAN isolation proven by real reachability: examples/private-vlan in layer2 mode through the
// real engine against the real peers (ipmi_sim BMCs, the namespace switch over SSH, the boot
// server in its namespace, namespace machines). After the install the two servers' ports move
// from the provisioning VLAN to their private VLAN's bridge: they reach each other, and neither
// the boot server nor a machine outside the VLAN reaches them.
import { spawnSync } from "node:child_process";
import type { ExampleStack } from "../../cli/example-stack";
import { listVlans, vlanPorts } from "../../provider/store/vlans-sql";
import { reaches } from "../lab/ping";
import type { RealSite } from "../lab/real-site";
import { privateVlanSite, type PrivateVlanSite } from "../helpers/private-vlan-site";

jest.setTimeout(300_000);

let ex: ExampleStack;
let site: RealSite;
let stack: PrivateVlanSite | undefined;
const log = (label: string) => (out: string) => process.stdout.write(`[${label}] ${out}`);

const addressOf = (i: number) => site.tor.servers[i]!.address.split("/")[0]!;

beforeAll(async () => {
  stack = await privateVlanSite("bridge-per-vlan", { networkType: "layer2" });
  ({ ex, site } = stack);
});

afterAll(() => stack?.stop());

test("layer2 servers reach each other over their VLAN and nothing else reaches them", async () => {
  const up = await ex.stack.up({ onOutput: log("up") });
  expect(up.summary.result).toBe("succeeded");
  const vid = up.outputs.vlan!.value as number;
  const db = up.outputs.db!.value as { machine: string; ports: { mode: string; vlan?: number }[] }[];
  for (const d of db) expect(d.ports).toEqual([expect.objectContaining({ mode: "access", vlan: vid })]);

  const index = (machine: string) => site.machines.findIndex((m) => m.id === machine);
  const [a, b] = db.map((d) => index(d.machine));
  const outside = [0, 1, 2].find((i) => i !== a && i !== b)!;
  const boot = new URL(site.bootServerUrl).hostname;
  // The switch really moved both ports onto the VLAN's bridge, after they installed.
  for (const i of [a!, b!]) {
    expect(site.tor.portMaster(site.machines[i]!.port)).toBe(`vlan${vid}`);
    expect(site.machines[i]!.phase()).toBe("running");
  }
  expect(reaches(site.machines[a!]!.namespace, addressOf(b!))).toBe(true);
  expect(reaches(site.machines[b!]!.namespace, addressOf(a!))).toBe(true);
  // Off the provisioning network: the boot server is out of reach, and so is a machine
  // that is on no VLAN of theirs (put it on the provisioning VLAN: still nothing).
  expect(reaches(site.machines[a!]!.namespace, boot)).toBe(false);
  const outsider = site.machines[outside]!;
  spawnSync("ip", ["-n", site.tor.namespace, "link", "set", "dev", outsider.port, "master", "vlan10"]);
  expect(reaches(outsider.namespace, boot)).toBe(true);
  expect(reaches(outsider.namespace, addressOf(a!))).toBe(false);
  expect(reaches(outsider.namespace, addressOf(b!))).toBe(false);
  spawnSync("ip", ["-n", site.tor.namespace, "link", "set", "dev", outsider.port, "nomaster"]);

  const [vlan] = await site.store.transact(() => listVlans({ project: "demo" }), "read");
  expect(
    (await site.store.transact(() => vlanPorts({ vlanId: vlan!.id }), "read")).map((p) => p.mode),
  ).toEqual(["access", "access"]);
});

test("destroy: wiped over the provisioning VLAN, ports reset, the VLAN gone from the switch", async () => {
  const res = await ex.stack.destroy({ onOutput: log("destroy") });
  expect(res.summary.result).toBe("succeeded");
  for (const m of site.machines) expect(site.tor.portMaster(m.port)).toBeUndefined();
  const bridges = spawnSync("ip", ["-n", site.tor.namespace, "-j", "link", "show", "type", "bridge"], {
    encoding: "utf8",
  });
  expect((JSON.parse(bridges.stdout) as { ifname: string }[]).map((l) => l.ifname)).toEqual(["vlan10"]);
  const events = await site.store.events(200);
  expect(events.filter((e) => e.action === "wipe.done")).toHaveLength(2);
  expect(await site.store.transact(() => listVlans(), "read")).toEqual([]);
});

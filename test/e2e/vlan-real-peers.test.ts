// VLAN isolation proven by real reachability: examples/private-vlan in layer2 mode through the
// real engine against the real peers (ipmi_sim BMCs, the namespace switch over SSH, the boot
// server in its namespace, namespace machines). After the install the two servers' ports move
// from the provisioning VLAN to their private VLAN's bridge: they reach each other, and neither
// the boot server nor a machine outside the VLAN reaches them.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { exampleStack, type ExampleStack } from "../../cli/example-stack";
import { listVlans, vlanPorts } from "../../provider/store/vlans-sql";
import { reaches } from "../lab/ping";
import { startRealSite, type RealSite } from "../lab/real-site";

jest.setTimeout(300_000);

let ex: ExampleStack;
let site: RealSite;
const log = (label: string) => (out: string) => process.stdout.write(`[${label}] ${out}`);

const addressOf = (i: number) => site.tor.servers[i]!.address.split("/")[0]!;

beforeAll(async () => {
  ex = await exampleStack("private-vlan", "rack1");
  fs.mkdirSync(path.dirname(ex.storeFile), { recursive: true });
  // Two machines for the servers, one left outside the VLAN.
  site = await startRealSite({ machines: 3, storeFile: ex.storeFile, installMs: 300 });
  for (const [k, v] of Object.entries(site.env)) process.env[k] = v;
  for (const [k, v] of Object.entries({
    "baremetal:bootServerUrl": site.config["baremetal:bootServerUrl"]!,
    facility: site.config.facility!,
    plan: site.config.plan!,
    networkType: "layer2",
    provisionTimeoutSeconds: "120",
  }))
    await ex.stack.setConfig(k, { value: v });
});

afterAll(async () => {
  await ex?.stack.destroy().catch(() => undefined);
  await site?.stop();
  ex?.cleanup();
});

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

// A Vlan's switch side against the built-in lab's VLAN-aware switch, through the real switch
// driver over SSH: created on the facility's switch; a switch refusal undoes the create and
// gives the id back; delete refuses while ports carry the VLAN and names them; forced, it
// detaches each port (a trunk loses just this VLAN) before the VLAN goes.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startLabSite, type LabSite } from "../../cli/lab-site";
import type { Operation } from "../../provider/access/guard";
import { resolveConfig } from "../../provider/config";
import { noLog } from "../../provider/hardware/commands";
import { closeSwitches } from "../../provider/servers/hardware";
import { applyNetwork } from "../../provider/servers/network";
import { attachPort, listVlans, vlanPorts } from "../../provider/store/vlans-sql";
import { VlanError } from "../../provider/vlans/errors";
import {
  createVlanEverywhere,
  deleteVlanEverywhere,
  readVlanEverywhere,
} from "../../provider/vlans/lifecycle";
import { failure } from "../helpers/failure";

jest.setTimeout(60_000);

let site: LabSite;
let dir: string;
let ctx: Operation;
const model = () => site.lab.switch.sim.model;
let n = 0;
const req = (vid?: number) => ({
  id: `v-${++n}`,
  owner: null,
  project: "demo",
  facility: "lab",
  vid,
  description: null,
  tags: [],
});

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "baremetal-vlan-"));
  site = await startLabSite({ storeFile: path.join(dir, "state.db"), machines: 2, switchDialect: "linux" });
  // The provider reads the credentials the inventory names from its environment.
  Object.assign(process.env, site.env);
  ctx = { store: site.store, config: resolveConfig(() => undefined), log: noLog };
});

test("a switch whose credentials are missing: the create fails and the id is given back", async () => {
  const saved = { ...process.env };
  for (const k of Object.keys(site.env)) delete process.env[k];
  try {
    const e = await failure(createVlanEverywhere(ctx, req(1499)), Error);
    expect(e.message).toMatch(
      /^VLAN 1499: could not create it: switch lab-tor1: environment variable \S+ is not set/,
    );
  } finally {
    Object.assign(process.env, saved);
  }
  expect(await ctx.store.transact(() => listVlans(), "read")).toEqual([]);
});

afterAll(async () => {
  for (const k of Object.keys(site?.env ?? {})) delete process.env[k];
  await closeSwitches();
  await site?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test("create puts the VLAN on the facility's switch; read sees it there", async () => {
  const { vlan, switches } = await createVlanEverywhere(ctx, req(1500));
  expect(switches).toEqual(["lab-tor1"]);
  expect(
    model()
      .portVlans("br0")
      .map((v) => v.vlan),
  ).toContain(1500);
  expect(await readVlanEverywhere(ctx, vlan.id)).toMatchObject({ switches: ["lab-tor1"], ports: [] });
  // Someone removes it at the switch: read says so (drift shows in refresh).
  model().run(["bridge", "vlan", "del", "dev", "br0", "vid", "1500", "self"]);
  expect(await readVlanEverywhere(ctx, vlan.id)).toMatchObject({ switches: [] });
  await deleteVlanEverywhere(ctx, vlan.id, false);
  expect(await ctx.store.transact(() => listVlans(), "read")).toEqual([]);
});

test("a switch that refuses undoes the create: no VLAN on it, the id given back", async () => {
  site.lab.switch.sim.faults.refuse = true;
  try {
    const e = await failure(createVlanEverywhere(ctx, req(1501)), Error);
    expect(e.message).toMatch(
      /^VLAN 1501: could not create it on switch lab-tor1: .*configuration is locked/,
    );
  } finally {
    site.lab.switch.sim.faults.refuse = false;
  }
  expect(await ctx.store.transact(() => listVlans(), "read")).toEqual([]);
  expect(
    model()
      .portVlans("br0")
      .map((v) => v.vlan),
  ).not.toContain(1501);
});

test("a switch that made the VLAN but lost its answer loses the VLAN too: nothing is left for the next Vlan to take", async () => {
  site.lab.switch.sim.faults.loseReply = true;
  try {
    const e = await failure(createVlanEverywhere(ctx, req(1502)), Error);
    expect(e.message).toMatch(
      /^VLAN 1502: could not create it on switch lab-tor1: .*connection to the switch lost/,
    );
  } finally {
    site.lab.switch.sim.faults.loseReply = false;
  }
  expect(await ctx.store.transact(() => listVlans(), "read")).toEqual([]);
  expect(
    model()
      .portVlans("br0")
      .map((v) => v.vlan),
  ).not.toContain(1502);
});

test("a rerun of an interrupted create adopts what matches it and removes what no longer does", async () => {
  const owner = "org/net/dev/private";
  const first = await createVlanEverywhere(ctx, { ...req(1503), owner });
  // The run died before the engine saved it; the next asks for the same id: adopted.
  const again = await createVlanEverywhere(ctx, { ...req(1503), owner });
  expect(again.vlan.id).toBe(first.vlan.id);
  // The program was changed to another id before the rerun: the first goes, switch and store.
  const other = await createVlanEverywhere(ctx, { ...req(1504), owner });
  expect(other.vlan.id).not.toBe(first.vlan.id);
  const held = await ctx.store.transact(() => listVlans(), "read");
  expect(held.map((v) => [v.vid, v.owner])).toEqual([[1504, owner]]);
  const onSwitch = model()
    .portVlans("br0")
    .map((v) => v.vlan);
  expect(onSwitch).toContain(1504);
  expect(onSwitch).not.toContain(1503);
  await deleteVlanEverywhere(ctx, other.vlan.id, false);
});

test("delete refuses while ports carry the VLAN; forced, it detaches them first", async () => {
  const { vlan } = await createVlanEverywhere(ctx, req(1502));
  const [m1, m2] = site.lab.machines;
  // m1 carries it tagged on a trunk beside VLAN 1503; m2 as its access VLAN.
  await createVlanEverywhere(ctx, req(1503));
  const sw = model();
  for (const line of [
    `ip link set dev ${m1!.switchPort} master br0`,
    `bridge vlan add dev ${m1!.switchPort} vid 1502`,
    `bridge vlan add dev ${m1!.switchPort} vid 1503`,
    `ip link set dev ${m2!.switchPort} master br0`,
    `bridge vlan add dev ${m2!.switchPort} vid 1502 pvid untagged`,
  ])
    expect(sw.run(line.split(" ")).code).toBe(0);
  await ctx.store.transact(function* (at) {
    for (const [m, mode] of [
      [m1!, "tagged"],
      [m2!, "access"],
    ] as const) {
      yield* attachPort(
        {
          vlanId: vlan.id,
          serverId: `s-${m.id}`,
          machineId: m.id,
          nic: "eth0",
          switch: "lab-tor1",
          port: m.switchPort,
          mode,
        },
        "test",
        at,
      );
    }
  });

  const refused = await failure(deleteVlanEverywhere(ctx, vlan.id, false), VlanError);
  expect(refused.code).toBe("VlanInUse");
  expect(refused.message).toContain(`lab-tor1 ${m1!.switchPort} (machine ${m1!.id}, tagged)`);
  expect(refused.message).toContain(`lab-tor1 ${m2!.switchPort} (machine ${m2!.id}, access)`);
  expect(sw.portVlans("br0").map((v) => v.vlan)).toContain(1502);

  await deleteVlanEverywhere(ctx, vlan.id, true);
  expect(sw.portVlans(m1!.switchPort)).toEqual([{ vlan: 1503, pvid: false, untagged: false }]);
  expect(sw.portVlans(m2!.switchPort)).toEqual([]);
  expect(sw.portVlans("br0").map((v) => v.vlan)).not.toContain(1502);
  expect(await ctx.store.transact(() => vlanPorts({}), "read")).toEqual([]);
  expect((await ctx.store.transact(() => listVlans(), "read")).map((v) => v.vid)).toEqual([1503]);
});

test("forced, a delete that leaves a hybrid port only its native VLAN makes it an access port there, at the first try", async () => {
  const { vlan } = await createVlanEverywhere(ctx, req(1505));
  const [m1] = site.lab.machines;
  const record = (await ctx.store.getMachine(m1!.id))!;
  const network = { project: "demo", facility: "lab", networkType: "hybrid" as const, vlans: [1505] };
  await applyNetwork(ctx, "s-hybrid", record, network, 10);
  expect(model().portVlans(m1!.switchPort)).toEqual([
    { vlan: 10, pvid: true, untagged: true },
    { vlan: 1505, pvid: false, untagged: false },
  ]);
  await deleteVlanEverywhere(ctx, vlan.id, true);
  expect(model().portVlans(m1!.switchPort)).toEqual([{ vlan: 10, pvid: true, untagged: true }]);
  expect(await ctx.store.transact(() => vlanPorts({ serverId: "s-hybrid" }), "read")).toEqual([]);
  expect((await ctx.store.transact(() => listVlans(), "read")).map((v) => v.vid)).not.toContain(1505);
});

test("a network change one of two NICs' ports refuses: the port that took it keeps its records, the other's go", async () => {
  await createVlanEverywhere(ctx, req(1504));
  const [m1] = site.lab.machines;
  const record = (await ctx.store.getMachine(m1!.id))!;
  // A second NIC on a port the switch does not have: its change fails after the first one's.
  const twoNics = {
    ...record,
    nics: [...record.nics, { ...record.nics[0]!, name: "eth1", mac: "02:00:00:00:99:01", port: "swp99" }],
  };
  const network = { project: "demo", facility: "lab", networkType: "hybrid" as const, vlans: [1504] };
  const e = await failure(applyNetwork(ctx, "s-two-nics", twoNics, network, 10), Error);
  expect(e.message).toMatch(/swp99/);
  const records = await ctx.store.transact(() => vlanPorts({ serverId: "s-two-nics" }), "read");
  expect(records.map((p) => [p.nic, p.port, p.vid, p.mode])).toEqual([
    ["eth0", m1!.switchPort, 1504, "tagged"],
  ]);
  expect(
    model()
      .portVlans(m1!.switchPort)
      .map((v) => v.vlan),
  ).toContain(1504);
});

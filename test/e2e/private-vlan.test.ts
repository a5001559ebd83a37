// examples/private-vlan through the real engine on the built-in lab with a VLAN-aware switch:
// a member who joins first (her key on both servers), a Vlan on the switch, two hybrid servers
// carrying it tagged beside their layer-3 network, the audit log with the hardware commands
// each change issued, a network change applied in place, and nothing left after destroy.
import type { ExampleStack } from "../../cli/example-stack";
import type { LabSite } from "../../cli/lab-site";
import Database from "better-sqlite3";
import { readAudit, readProject } from "../../provider/store/projects-sql";
import { listServers } from "../../provider/store/servers-sql";
import { listVlans, vlanPorts } from "../../provider/store/vlans-sql";
import { labStack, type LabStack } from "../helpers/lab-stack";

jest.setTimeout(300_000);

let ex: ExampleStack;
let site: LabSite;
let lab: LabStack;
const log = (label: string) => (out: string) => process.stdout.write(`[${label}] ${out}`);
type Port = { mode: string; vlan?: number; nativeVlan?: number; allowedVlans?: number[] };

beforeAll(async () => {
  lab = await labStack("test", {
    example: "private-vlan",
    switchDialect: "linux",
    machines: 3,
    installTimeMs: 300,
    config: { provisionTimeoutSeconds: "60" },
  });
  ({ ex, site } = lab);
});

afterAll(() => lab?.stop());

const model = () => site.lab.switch.sim.model;

test("preview before the first up: the servers' VLAN id is not known yet, and passes", async () => {
  // The vid is an output of the Vlan this run creates: at preview it is unknown, and check
  // must take it as such (CI previews every change before it applies it).
  const preview = await ex.stack.preview({ onOutput: log("preview") });
  expect(preview.changeSummary).toMatchObject({ create: 5 }); // the stack, the Vlan, two servers, the member
  // A preview changes nothing: no VLAN on the switch yet.
  expect(
    model()
      .portVlans("br0")
      .map((v) => v.vlan),
  ).not.toContain(1000);
});

test("up: the VLAN is on the switch and both servers carry it tagged beside layer 3", async () => {
  const up = await ex.stack.up({ onOutput: log("up") });
  expect(up.summary.result).toBe("succeeded");
  const vid = up.outputs.vlan!.value as number;
  expect(vid).toBe(1000); // the lowest of the lab facility's range
  // The bridge has the provisioning VLAN (10), the lab's layer-3 network (20) and the new one.
  expect(
    model()
      .portVlans("br0")
      .map((v) => v.vlan),
  ).toEqual([10, 20, vid]);

  const db = up.outputs.db!.value as { machine: string; ports: Port[] }[];
  for (const d of db) {
    expect(d.ports).toEqual([
      expect.objectContaining({ mode: "trunk", nativeVlan: 20, allowedVlans: [vid] }),
    ]);
    // On the switch itself: the layer-3 network untagged, the private VLAN tagged.
    const port = site.lab.machine(d.machine).switchPort;
    expect(model().portVlans(port)).toEqual([
      { vlan: 20, pvid: true, untagged: true },
      { vlan: vid, pvid: false, untagged: false },
    ]);
  }
  // The store knows which ports carry the VLAN, so the Vlan cannot go while they do.
  const [vlan] = await site.store.transact(() => listVlans({ project: "demo" }), "read");
  const carried = await site.store.transact(() => vlanPorts({ vlanId: vlan!.id }), "read");
  expect(carried.map((p) => [p.machineId, p.mode]).sort()).toEqual(
    db.map((d) => [d.machine, "tagged"]).sort(),
  );

  // The member joined before the servers were installed: her key is in their Ignition.
  expect(up.outputs.member!.value).toEqual({ user: "alice@example.com", role: "collaborator" });
  // (What each machine fetched for its install: the store keeps no finished session's configs.)
  for (const d of db) {
    const ignition = JSON.parse(site.lab.machine(d.machine).sim.installedWith!) as {
      passwd: { users: { name: string; sshAuthorizedKeys?: string[] }[] };
    };
    const keys = ignition.passwd.users.flatMap((u) => u.sshAuthorizedKeys ?? []);
    expect(keys.some((k) => k.endsWith("alice@laptop"))).toBe(true);
  }
  const db3 = new Database(ex.storeFile, { readonly: true });
  try {
    const staged = db3.prepare("SELECT staged FROM provisioning WHERE kind = 'install'").all() as {
      staged: string;
    }[];
    expect(staged).toHaveLength(2);
    for (const row of staged) expect(Object.keys(JSON.parse(row.staged) as object)).toEqual(["ipxe"]);
  } finally {
    db3.close();
  }
  // Every change is in the audit log, a Server's with the switch and BMC commands it issued.
  const audit = await site.store.transact(() => readAudit({ project: "demo" }), "read");
  // Each twice: started before anything was touched, finished with what it did; and the
  // lab's project itself, created with its owner.
  expect(audit.map((e) => `${e.action} ${e.resource.split(":")[0]} ${e.stage}`).sort()).toEqual([
    "create Project finished",
    "create ProjectMember finished",
    "create ProjectMember started",
    "create Server finished",
    "create Server finished",
    "create Server started",
    "create Server started",
    "create Vlan finished",
    "create Vlan started",
  ]);
  const serverCommands = audit.find(
    (e) => e.resource.startsWith("Server:") && e.stage === "finished",
  )!.commands;
  expect(
    serverCommands.some((c) =>
      /^switch 127\.0\.0\.1:\d+: .*bridge vlan add dev swp\d+ vid 10 pvid untagged/.test(c),
    ),
  ).toBe(true);
  expect(serverCommands.some((c) => /^switch .*bridge vlan add dev swp\d+ vid 1000(;|$)/.test(c))).toBe(true);
  expect(
    serverCommands.some((c) => /^redfish https:\/\/127\.0\.0\.1:\d+: PATCH .* Boot Pxe Once$/.test(c)),
  ).toBe(true);
  expect(serverCommands.some((c) => /^redfish .*: POST .*ResetType=On$/.test(c))).toBe(true);
  expect(JSON.stringify(audit)).not.toMatch(/rootPassword":"(?!\[redacted\])/);

  await ex.stack.refresh({ onOutput: log("refresh") });
  const state = await ex.stack.exportStack();
  const vlanState = (
    state.deployment.resources as { type: string; outputs: { ports: unknown[]; switches: string[] } }[]
  ).find((r) => r.type.endsWith("baremetal:Vlan"))!;
  expect(vlanState.outputs.switches).toEqual(["lab-tor1"]);
  expect(vlanState.outputs.ports).toHaveLength(2);
});

test("a network change applies in place: layer3 takes both servers off the VLAN", async () => {
  const before = (await ex.stack.outputs()).db!.value as { machine: string }[];
  await ex.stack.setConfig("networkType", { value: "layer3" });
  const up = await ex.stack.up({ onOutput: log("layer3") });
  expect(up.summary.resourceChanges).toMatchObject({ update: 2 });
  expect(up.summary.resourceChanges?.replace ?? 0).toBe(0);
  const db = up.outputs.db!.value as { machine: string; ports: Port[] }[];
  expect(db.map((d) => d.machine)).toEqual(before.map((d) => d.machine));
  for (const d of db) {
    expect(d.ports).toEqual([expect.objectContaining({ mode: "access", vlan: 20 })]);
    expect(model().portVlans(site.lab.machine(d.machine).switchPort)).toEqual([
      { vlan: 20, pvid: true, untagged: true },
    ]);
  }
  expect(await site.store.transact(() => vlanPorts({}), "read")).toEqual([]);

  await ex.stack.setConfig("networkType", { value: "hybrid" });
  const back = await ex.stack.up({ onOutput: log("hybrid") });
  expect(back.summary.resourceChanges).toMatchObject({ update: 2 });
  expect(await site.store.transact(() => vlanPorts({}), "read")).toHaveLength(2);
});

test("layer2 trunk: backend native, storage tagged; back to hybrid, storage detaches before it goes", async () => {
  // layer2 servers here give up their addresses (the example asks for none on layer2), which
  // replaces them: each old server is taken apart before its replacement claims a machine.
  await ex.stack.setConfig("networkType", { value: "layer2" });
  await ex.stack.setConfig("trunk", { value: "true" });
  const up = await ex.stack.up({ onOutput: log("trunk") });
  expect(up.summary.resourceChanges).toMatchObject({ create: 1, replace: 2 });
  const servers = await site.store.transact(() => listServers("demo"), "read");
  expect(servers.map((s) => [s.hostname, s.state])).toEqual([
    ["db-1", "active"],
    ["db-2", "active"],
  ]);
  const vlans = await site.store.transact(() => listVlans(), "read");
  const vid = (name: string) => vlans.find((v) => v.description === name)!.vid;
  const [backendVid, storageVid] = [vid("database replication"), vid("storage traffic")];
  const db = up.outputs.db!.value as { machine: string; ports: Port[] }[];
  for (const d of db) {
    // The port as the switch reads it back: off the provisioning VLAN, a trunk of the two.
    expect(d.ports).toEqual([
      expect.objectContaining({ mode: "trunk", nativeVlan: backendVid, allowedVlans: [storageVid] }),
    ]);
    expect(model().portVlans(site.lab.machine(d.machine).switchPort)).toEqual([
      { vlan: backendVid, pvid: true, untagged: true },
      { vlan: storageVid, pvid: false, untagged: false },
    ]);
  }

  // Back to hybrid on the one VLAN: the ports let go of storage before the VLAN is deleted.
  await ex.stack.setConfig("networkType", { value: "hybrid" });
  await ex.stack.removeConfig("trunk");
  const back = await ex.stack.up({ onOutput: log("untrunk") });
  expect(back.summary.resourceChanges).toMatchObject({ delete: 1, replace: 2 });
  expect((await site.store.transact(() => listServers("demo"), "read")).map((s) => s.state)).toEqual([
    "active",
    "active",
  ]);
  expect((await site.store.transact(() => listVlans(), "read")).map((v) => v.vid)).toEqual([backendVid]);
  expect(
    model()
      .portVlans("br0")
      .map((v) => v.vlan)
      .sort((a, b) => a - b),
  ).toEqual([10, 20, backendVid]);
});

test("destroy: servers detach before the VLAN goes; nothing is left", async () => {
  const res = await ex.stack.destroy({ onOutput: log("destroy") });
  expect(res.summary.result).toBe("succeeded");
  // Only the provisioning and layer-3 VLANs, which belong to the facility, stay on the bridge.
  expect(
    model()
      .portVlans("br0")
      .map((v) => v.vlan),
  ).toEqual([10, 20]);
  for (const m of site.lab.machines) expect(model().portVlans(m.switchPort)).toEqual([]);
  expect(await site.store.transact(() => listVlans(), "read")).toEqual([]);
  expect(await site.store.transact(() => vlanPorts({}), "read")).toEqual([]);
  // The member left with the stack; the project keeps its owner.
  const project = await site.store.transact(() => readProject("demo"), "read");
  expect(project!.members.map((m) => m.role)).toEqual(["owner"]);
  const inv = await site.store.inventory();
  expect(inv.machines.map((m) => m.state)).toEqual(["available", "available", "available"]);
});

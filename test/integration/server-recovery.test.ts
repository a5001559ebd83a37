// A create that fails after an earlier, interrupted run, and a create whose own undo fails, on the
// built-in lab: a machine that may hold an installed OS never goes back to the pool, and nothing
// a failed create held is left without an owner.
import Database from "better-sqlite3";
import { resolveConfig } from "../../provider/config";
import { noLog } from "../../provider/hardware/commands";
import * as serverResource from "../../provider/resources/server";
import { closeStores } from "../../provider/runtime";
import { ServerInputs } from "../../provider/servers/inputs";
import { createServer, deleteServer, reinstallServer } from "../../provider/servers/lifecycle";
import { readAudit } from "../../provider/store/projects-sql";
import { listServers, serverTimeline, setServerState } from "../../provider/store/servers-sql";
import { vlanPorts } from "../../provider/store/vlans-sql";
import { readPorts } from "../../provider/servers/ports";
import { secretsOf, withBmc } from "../../provider/servers/hardware";
import { createVlanEverywhere, deleteVlanEverywhere } from "../../provider/vlans/lifecycle";
import type { Store } from "../../provider/store/store";
import { LAB_ADDRESSES } from "../../provider/lab";
import { OPS, labSiteForFile } from "../helpers/lab-site";

jest.setTimeout(120_000);

const lab = labSiteForFile("server-recovery", { machines: 1, installTimeMs: 200 });

const inputs = (extra: Record<string, unknown> = {}) =>
  ServerInputs.parse({
    project: "demo",
    facility: "lab",
    plan: "lab.small",
    hostname: "web",
    operatingSystem: "flatcar_stable",
    provisionTimeoutSeconds: 30,
    ...extra,
  });

const ctx = (store?: Store) => lab.ctx(store);

/** The environment the engine's provider process would have: the resource functions read it. */
const asProvider = () =>
  Object.assign(process.env, {
    BAREMETAL_STORE: lab.location,
    BAREMETAL_ACTOR: OPS,
    BAREMETAL_BOOT_SERVER_URL: lab.site.boot.url,
  });

/** The lab's store with some of its methods replaced. */
function storeWith(overrides: Partial<Record<keyof Store, unknown>>): Store {
  return new Proxy(lab.site.store, {
    get(target, key, receiver) {
      if (key in overrides) return overrides[key as keyof Store];
      const v = Reflect.get(target, key, receiver) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

async function machine() {
  return (await lab.site.store.inventory()).machines.find((m) => m.id === "m01")!;
}

/** Everything the store still holds for servers: rows, blocks, addresses. */
async function held() {
  const servers = await lab.site.store.transact(() => listServers(), "read");
  const reservations = await lab.site.store.listReservations({});
  const assignments = [];
  for (const r of reservations)
    assignments.push(...(await lab.site.store.listAssignments({ reservationId: r.id })));
  return { servers, reservations, assignments };
}

test("a rerun that fails after the earlier run's install finished quarantines the machine, powered off, ports reset", async () => {
  const idleVlan = lab.site.lab.vlanOf("m01");
  const owner = "org/p/s/finished";
  await createServer(ctx(), inputs(), owner);
  expect(lab.site.lab.vlanOf("m01")).not.toBe(idleVlan);

  // The engine never heard of the first run; the second cannot get its addresses.
  const rerun = createServer(
    ctx(
      storeWith({
        allocateHosts: () => Promise.reject(new Error("pool lab-public: no /31 left")),
      }),
    ),
    inputs(),
    owner,
  );
  await expect(rerun).rejects.toThrow(/step "addresses" failed on machine m01/);

  const m = await machine();
  expect([m.state, m.owner]).toEqual(["quarantine", null]);
  expect(m.stateReason).toMatch(/provisioning failed at addresses/);
  expect(lab.site.lab.machine("m01").system.powerState).toBe("Off");
  expect(lab.site.lab.vlanOf("m01")).toBe(idleVlan);
  expect(await held()).toEqual({ servers: [], reservations: [], assignments: [] });
  await lab.site.store.setMachineState("m01", ["quarantine"], "available", null, OPS);
});

test("an undo that fails keeps the server row, in state failed, owning what it holds; a rerun and a delete finish", async () => {
  const owner = "org/p/s/undo";
  // A store whose first unassign fails, as one past the busy timeout would.
  let failOnce = true;
  const flaky = storeWith({
    unassign: async (...args: Parameters<Store["unassign"]>) => {
      if (failOnce) {
        failOnce = false;
        throw new Error("database is locked");
      }
      return lab.site.store.unassign(...args);
    },
  });
  lab.site.lab.setMachineFaults({ neverCallsHome: true });
  try {
    const failed = createServer(ctx(flaky), inputs({ provisionTimeoutSeconds: 5 }), owner);
    await expect(failed).rejects.toThrow(
      /step "install" failed on machine m01: install: no report .*then could not release addresses: could not release address .*database is locked.*stays, in state failed/,
    );
  } finally {
    lab.site.lab.setMachineFaults({});
  }
  const left = await held();
  expect(left.servers.map((s) => [s.owner, s.state, s.failedStep])).toEqual([[owner, "failed", "install"]]);
  // The address that could not be given back is still the row's, not an orphan's.
  expect(left.assignments.map((a) => a.server)).toEqual([left.servers[0]!.id]);
  expect((await machine()).owner).toBe(owner);

  // The next run takes over the same row and finishes the install; its delete leaves nothing.
  const p = await createServer(ctx(), inputs(), owner);
  expect(p.server.id).toBe(left.servers[0]!.id);
  await deleteServer(ctx(), p.server, inputs(), owner);
  expect(await held()).toEqual({ servers: [], reservations: [], assignments: [] });
  expect((await machine()).state).toBe("available");
});

test("an undo that can neither power the machine off nor reset its ports keeps its addresses on the server row; a delete finishes", async () => {
  // The machine may still be on the network with its addresses: given back, the next server
  // could get one. (Either one done is enough: off, or cut off.)
  const owner = "org/p/s/undo-power";
  const bmc = lab.site.lab.machine("m01").system;
  const sw = lab.site.lab.switch.sim;
  lab.site.lab.setMachineFaults({ neverCallsHome: true });
  // The BMC and the switch go away while the create waits for the phone-home.
  const away = setTimeout(() => {
    bmc.faults.unreachable = true;
    sw.faults.refuse = true;
  }, 1500);
  try {
    await expect(createServer(ctx(), inputs({ provisionTimeoutSeconds: 5 }), owner)).rejects.toThrow(
      /then could not power off: .*then could not reset switch ports: .*; the addresses stay held: the machine may still be on the network with them; server \S+ stays, in state failed/,
    );
  } finally {
    clearTimeout(away);
    bmc.faults.unreachable = false;
    sw.faults.refuse = false;
    lab.site.lab.setMachineFaults({});
  }
  const left = await held();
  expect(left.servers.map((s) => [s.owner, s.state])).toEqual([[owner, "failed"]]);
  expect(left.assignments).toHaveLength(3);
  expect(new Set(left.assignments.map((a) => a.server))).toEqual(new Set([left.servers[0]!.id]));
  expect((await machine()).owner).toBe(owner);
  await deleteServer(ctx(), left.servers[0]!, inputs(), owner);
  expect(await held()).toEqual({ servers: [], reservations: [], assignments: [] });
  expect((await machine()).state).toBe("available");
});

test("an address drawn from a reservation of another type is refused, naming the field, and nothing is held", async () => {
  const r = await lab.site.store.allocate({
    project: "demo",
    type: "private_ipv4",
    facility: "lab",
    block: { prefixLength: 29 },
    tags: [],
    description: null,
    owner: null,
    actor: OPS,
  });
  const wrong = createServer(
    ctx(),
    inputs({ ipAddresses: [{ type: "public_ipv4", reservationId: r.id }] }),
    "org/p/s/wrong-type",
  );
  await expect(wrong).rejects.toThrow(
    `step "addresses" failed on machine m01: ipAddresses[0].reservationId: reservation ${r.id} (${r.cidr}) is private_ipv4, but ipAddresses[0].type is public_ipv4`,
  );
  expect(await held()).toEqual({ servers: [], reservations: [r], assignments: [] });
  expect((await machine()).state).toBe("available");
  await lab.site.store.release(r.id, OPS);
});

test("a rerun whose inputs moved the server elsewhere is refused, naming the earlier claim; one with another OS installs again", async () => {
  const owner = "org/p/s/moved";
  const first = await createServer(ctx(), inputs(), owner);
  const moved = createServer(ctx(), inputs({ ipAddresses: [{ type: "private_ipv4" }] }), owner);
  await expect(moved).rejects.toThrow(
    `step "claim" failed on machine m01: an interrupted earlier create of this resource left server ${first.server.id} ` +
      `(active, machine m01) with ipAddresses [{"type":"public_ipv4","prefixLength":31},{"type":"private_ipv4","prefixLength":31},{"type":"public_ipv6","prefixLength":127}]: ` +
      `put those inputs back`,
  );
  // Untouched: still active, same addresses.
  const [kept] = (await held()).servers;
  expect([kept!.id, kept!.state]).toEqual([first.server.id, "active"]);
  expect(lab.site.lab.machine("m01").system.powerState).toBe("On");

  // Another OS: the same machine and addresses, a new install (a new root password), the spec as installed.
  const again = await createServer(ctx(), inputs({ operatingSystem: "ubuntu_24_04" }), owner);
  expect([again.server.id, again.machine.id]).toEqual([first.server.id, "m01"]);
  expect(again.rootPassword).toBeDefined();
  expect(again.network.map((a) => a.address)).toEqual(first.network.map((a) => a.address));
  expect(again.server.spec.operatingSystem).toBe("ubuntu_24_04");
  const timeline = await lab.site.store.transact(() => serverTimeline(first.server.id), "read");
  expect(timeline.filter((t) => t.action === "phone-home")).toHaveLength(2);

  await deleteServer(ctx(), again.server, inputs(), owner);
  expect(await held()).toEqual({ servers: [], reservations: [], assignments: [] });
});

test("a delete that fails names its step and the machine, keeps the row, and can be run again", async () => {
  const owner = "org/p/s/delete";
  const p = await createServer(ctx(), inputs(), owner);
  lab.site.lab.machine("m01").system.faults.unreachable = true;
  try {
    await expect(deleteServer(ctx(), p.server, inputs(), owner)).rejects.toThrow(
      /^step "delete: power off" failed on machine m01: /,
    );
  } finally {
    lab.site.lab.machine("m01").system.faults.unreachable = false;
  }
  expect((await held()).servers.map((s) => [s.id, s.state])).toEqual([[p.server.id, "deprovisioning"]]);
  // Put back in the program, the outputs the engine kept (state active) are not taken for the
  // truth: the diff reads the store, and the update installs the server again.
  asProvider();
  const kept = { ...inputs(), owner, state: "active" } as never;
  expect(await serverResource.diff(p.server.id, kept, { ...inputs(), owner } as never)).toEqual({
    changes: true,
    replaces: [],
    deleteBeforeReplace: true,
  });
  await deleteServer(ctx(), p.server, inputs(), owner);
  expect(await held()).toEqual({ servers: [], reservations: [], assignments: [] });
  expect((await machine()).state).toBe("available");
});

test("Ubuntu without an OS mirror fails at render, before the switch or the BMC, and nothing is held", async () => {
  const config = resolveConfig(
    (k) =>
      ({
        "baremetal:store": lab.location,
        "baremetal:actor": OPS,
        "baremetal:bootServerUrl": lab.site.boot.url,
      })[k],
    {},
  );
  const idleVlan = lab.site.lab.vlanOf("m01");
  await expect(
    createServer(
      { store: lab.site.store, config, log: noLog },
      inputs({ operatingSystem: "ubuntu_24_04" }),
      "org/p/s/no-mirror",
    ),
  ).rejects.toThrow(
    /^step "render" failed on machine m01: Ubuntu 24\.04 installs from a mirror: set baremetal:osMirror/,
  );
  expect(await held()).toEqual({ servers: [], reservations: [], assignments: [] });
  expect((await machine()).state).toBe("available");
  expect([lab.site.lab.vlanOf("m01"), lab.site.lab.machine("m01").system.powerState]).toEqual([
    idleVlan,
    "Off",
  ]);
});

test("without a boot server the create is refused before anything is claimed", async () => {
  const config = resolveConfig((k) => ({ "baremetal:store": lab.location, "baremetal:actor": OPS })[k], {});
  await expect(
    createServer({ store: lab.site.store, config, log: noLog }, inputs(), "org/p/s/no-boot"),
  ).rejects.toThrow('step "configure" failed: baremetal:bootServerUrl is not set');
  expect(await held()).toEqual({ servers: [], reservations: [], assignments: [] });
  expect((await machine()).state).toBe("available");
});

test("a VLAN that is not the project's is refused before a machine is claimed, and before a reinstall touches the running server", async () => {
  const vlanInputs = (extra: Record<string, unknown> = {}) =>
    inputs({ networkType: "layer2", ipAddresses: [], vlans: [1999], ...extra });
  await expect(createServer(ctx(), vlanInputs(), "org/p/s/typo")).rejects.toThrow(
    'step "network" failed: vlans: 1999 is not a Vlan of project demo in facility lab (it has none)',
  );
  expect(await held()).toEqual({ servers: [], reservations: [], assignments: [] });
  expect((await machine()).state).toBe("available");
  expect(lab.site.lab.machine("m01").system.powerState).toBe("Off");

  // A running server asked to reinstall onto it: refused, still active and powered, nothing staged.
  const owner = "org/p/s/running";
  const p = await createServer(ctx(), inputs(), owner);
  await expect(
    reinstallServer(
      ctx(),
      p.server,
      vlanInputs({ networkType: "hybrid", operatingSystem: "ubuntu_24_04" }),
      owner,
    ),
  ).rejects.toThrow('step "network" failed on machine m01: vlans: 1999 is not a Vlan of project demo');
  const [kept] = (await held()).servers;
  expect([kept!.state, lab.site.lab.machine("m01").system.powerState]).toEqual(["active", "On"]);
  const timeline = await lab.site.store.transact(() => serverTimeline(p.server.id), "read");
  expect(timeline.filter((t) => t.action === "install.staged")).toHaveLength(1);
  await deleteServer(ctx(), p.server, inputs(), owner);
  expect(await held()).toEqual({ servers: [], reservations: [], assignments: [] });
});

test("a delete that finds its server row gone (removed out of band) quarantines the machine still held under its key", async () => {
  const owner = "org/p/s/row-gone";
  const p = await createServer(ctx(), inputs(), owner);
  const db = new Database(lab.location.slice("sqlite:".length));
  try {
    db.prepare("DELETE FROM servers WHERE id = ?").run(p.server.id);
  } finally {
    db.close();
  }
  const env = { ...process.env };
  asProvider();
  try {
    await serverResource.remove(p.server.id, {
      ...inputs(),
      owner,
      machine: p.machine.id,
    } as unknown as serverResource.ServerOutputs);
  } finally {
    process.env = env;
    await closeStores();
  }
  const m = await machine();
  expect([m.state, m.owner, m.stateReason]).toEqual([
    "quarantine",
    null,
    `held by ${owner}, whose server row was gone when its delete ran: check the disks, then release it`,
  ]);
  expect(await held()).toEqual({ servers: [], reservations: [], assignments: [] });
  await lab.site.store.setMachineState("m01", ["quarantine"], "available", null, OPS);
});

test("a reinstall the BMC refuses puts the ports back on the server's VLAN, its records agreeing; the next update installs again, also after an interrupted delete", async () => {
  const vlan = await createVlanEverywhere(ctx(), {
    id: "v-recovery",
    owner: null,
    project: "demo",
    facility: "lab",
    vid: 1600,
    description: null,
    tags: [],
  });
  const owner = "org/p/s/layer2";
  const l2 = (extra: Record<string, unknown> = {}) =>
    inputs({ networkType: "layer2", ipAddresses: [], vlans: [1600], ...extra });
  const p = await createServer(ctx(), l2(), owner);
  const ports = await readPorts(ctx(), p.machine);
  const records = async () =>
    (await lab.site.store.transact(() => vlanPorts({ serverId: p.server.id }), "read")).map((r) => [
      r.port,
      r.mode,
    ]);
  const recorded = await records();
  expect(recorded).not.toEqual([]);

  // The BMC refuses: the machine still runs its OS, and must not sit on the provisioning network.
  lab.site.lab.machine("m01").system.faults.unreachable = true;
  try {
    await expect(
      reinstallServer(ctx(), p.server, l2({ userData: '{"ignition":{"version":"3.4.0"}}' }), owner),
    ).rejects.toThrow(/^step "power" failed on machine m01: /);
  } finally {
    lab.site.lab.machine("m01").system.faults.unreachable = false;
  }
  expect(await readPorts(ctx(), p.machine)).toEqual(ports);
  expect(await records()).toEqual(recorded);
  expect((await held()).servers.map((s) => s.state)).toEqual(["failed"]);

  // The next update installs again (diff sees the state, even with the inputs as they were).
  const outs = (extra: Record<string, unknown>) => ({ ...l2(), owner, state: "active", ...extra }) as never;
  const again = await serverResource.diff(p.server.id, outs({ state: "failed" }), l2({ owner }) as never);
  expect(again.changes).toBe(true);
  await serverResource.update(p.server.id, outs({ state: "failed" }), { ...l2(), owner } as never);
  expect((await held()).servers.map((s) => s.state)).toEqual(["active"]);

  // A delete cut short (the row says deprovisioning): the program still has the server, so an
  // update installs it again rather than keep a server whose disk may be wiped.
  await lab.site.store.transact((at) => setServerState(p.server.id, { state: "deprovisioning" }, OPS, at));
  expect(
    (await serverResource.diff(p.server.id, outs({ state: "deprovisioning" }), l2({ owner }) as never))
      .changes,
  ).toBe(true);
  await serverResource.update(p.server.id, outs({ state: "deprovisioning" }), { ...l2(), owner } as never);
  expect((await held()).servers.map((s) => s.state)).toEqual(["active"]);
  expect(await readPorts(ctx(), p.machine)).toEqual(ports);

  await deleteServer(ctx(), p.server, l2(), owner);
  await deleteVlanEverywhere(ctx(), vlan.vlan.id, false);
  expect(await held()).toEqual({ servers: [], reservations: [], assignments: [] });
});

test("read and update give the network as create did, a private block's routes included", async () => {
  const owner = "org/p/s/routes";
  const p = await createServer(ctx(), inputs(), owner);
  const privateOne = p.network.find((a) => a.type === "private_ipv4")!;
  expect(privateOne.routes?.length).toBe(1);
  const props = { ...inputs(), owner, state: "active", network: p.network } as never;
  const read = await serverResource.read(p.server.id, props);
  expect((read.props as { network: unknown }).network).toEqual(p.network);
  const updated = await serverResource.update(p.server.id, props, {
    ...inputs({ description: "x" }),
    owner,
  } as never);
  expect(updated.outs.network).toEqual(p.network);
  await deleteServer(ctx(), p.server, inputs(), owner);
  expect(await held()).toEqual({ servers: [], reservations: [], assignments: [] });
});

test("a server whose owner key changed (a renamed stack or project): a reinstall keeps its addresses, its delete releases them", async () => {
  // The program's key is no longer the one the store holds the server and its blocks under.
  const owner = "org/p/s/renamed";
  asProvider();
  const p = await createServer(ctx(), inputs(), owner);
  const props = { ...inputs(), owner, state: "active", network: p.network } as never;
  const news = { ...inputs({ userData: '{"ignition":{"version":"3.4.0"}}' }), owner: "org/p/s2/renamed" };
  try {
    const updated = await serverResource.update(p.server.id, props, news as never);
    expect(updated.outs.network.map((a) => a.address)).toEqual(p.network.map((a) => a.address));
    expect(updated.outs.owner).toBe(owner);
    const timeline = await lab.site.store.transact(() => serverTimeline(p.server.id), "read");
    expect(timeline.filter((t) => t.action === "phone-home")).toHaveLength(2);
    expect((await held()).reservations.map((r) => r.owner).sort()).toEqual(
      p.network.map((_, i) => `${owner}#ip${i}`).sort(),
    );
    // The delete releases by the stored key, even from outputs that carry the program's (as
    // those an earlier version wrote after such a rename do).
    await serverResource.remove(p.server.id, { ...updated.outs, owner: "org/p/s2/renamed" });
  } finally {
    await closeStores();
  }
  expect(await held()).toEqual({ servers: [], reservations: [], assignments: [] });
  expect((await machine()).state).toBe("available");
});

test("with a layer-3 VLAN of its own, the ports go there once the disk is written: the installed OS calls home from it", async () => {
  // A reboot long enough to show it: the provider moves the ports between the installer's
  // install.written and the installed system's phone-home.
  lab.site.lab.setMachineFaults({ rebootMs: 1500 });
  const sim = lab.site.lab.machine("m01").sim;
  try {
    const p = await createServer(ctx(), inputs(), "org/p/s/early");
    expect([sim.calledHomeFrom, lab.site.lab.vlanOf("m01")]).toEqual([LAB_ADDRESSES.layer3, 20]);
    const actions = (await lab.site.store.transact(() => serverTimeline(p.server.id), "read")).map(
      (t) => t.action,
    );
    expect(actions.indexOf("install.written")).toBeGreaterThan(-1);
    expect(actions.indexOf("install.written")).toBeLessThan(actions.indexOf("phone-home"));
    await deleteServer(ctx(), p.server, inputs(), "org/p/s/early");
    // IPv6 only: it calls home from the provisioning network by DHCPv4, and moves after that.
    const v6 = inputs({ ipAddresses: [{ type: "public_ipv6" }] });
    const q = await createServer(ctx(), v6, "org/p/s/v6only");
    expect([sim.calledHomeFrom, lab.site.lab.vlanOf("m01")]).toEqual([LAB_ADDRESSES.provisioning, 20]);
    await deleteServer(ctx(), q.server, v6, "org/p/s/v6only");
  } finally {
    lab.site.lab.setMachineFaults({});
  }
  expect(await held()).toEqual({ servers: [], reservations: [], assignments: [] });
});

test("a machine powered off at its BMC: read says so, diff sees a change, and the update powers it on", async () => {
  const owner = "org/p/s/power";
  const p = await createServer(ctx(), inputs(), owner);
  await withBmc(p.machine, secretsOf(ctx().config), noLog, (bmc) => bmc.setPower("off"));
  const props = { ...inputs(), owner, state: "active", power: "on" } as never;
  const read = (await serverResource.read(p.server.id, props)).props!;
  expect(read.power).toBe("off");
  const news = { ...inputs(), owner } as never;
  expect((await serverResource.diff(p.server.id, read, news)).changes).toBe(true);
  const updated = await serverResource.update(p.server.id, read, news);
  expect(updated.outs.power).toBe("on");
  expect(lab.site.lab.machine("m01").system.powerState).toBe("On");
  expect((await serverResource.diff(p.server.id, updated.outs, news)).changes).toBe(false);
  await deleteServer(ctx(), p.server, inputs(), owner);
});

test("a wipe that never reports ends at the server's provisionTimeoutSeconds: the machine is powered off and quarantined", async () => {
  const owner = "org/p/s/wipe";
  const fast = inputs({ provisionTimeoutSeconds: 5 });
  const p = await createServer(ctx(), fast, owner);
  // The boot server is gone: the one-time PXE fails and the machine boots its old disk.
  const dead = { ...ctx(), config: { ...ctx().config, bootServerUrl: "http://127.0.0.1:9" } };
  await deleteServer(dead, p.server, fast, owner);
  expect(await held()).toEqual({ servers: [], reservations: [], assignments: [] });
  const m = await machine();
  expect([m.state, lab.site.lab.machine("m01").system.powerState]).toEqual(["quarantine", "Off"]);
  await lab.site.store.setMachineState("m01", ["quarantine"], "available", null, OPS);
});

test("a replacement to a plan or facility the inventory lacks is refused at diff, before the old server is taken apart", async () => {
  // The provider's own configuration, as the engine would give it (this may be the first use).
  asProvider();
  const olds = { ...inputs(), owner: "org/p/s/typo", state: "active", machine: "m01" } as never;
  await expect(
    serverResource.diff("srv", olds, { ...inputs({ plan: "lab.smal" }) } as never),
  ).rejects.toThrow("plan: lab.smal is not in the inventory (plans: lab.small); the server was not replaced");
  await expect(serverResource.diff("srv", olds, { ...inputs({ facility: "lba" }) } as never)).rejects.toThrow(
    /^facility: lba is not in the inventory \(facilities: lab\); the server was not replaced$/,
  );
  // At preview a place not known yet is looked up when it is.
  const unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
  expect(await serverResource.diff("srv", olds, { ...inputs(), facility: unknown } as never)).toMatchObject({
    replaces: ["facility"],
  });
  // A replacement to a place that exists goes ahead (deleted first, as always).
  const other = await serverResource.diff("srv", olds, { ...inputs({ project: "other" }) } as never);
  expect(other).toMatchObject({ replaces: ["project"], deleteBeforeReplace: true });
});

test("a create that fails after it reached the hardware: its audit entry has the error and every command it sent", async () => {
  const owner = "org/p/s/audited";
  asProvider();
  lab.site.lab.setMachineFaults({ neverCallsHome: true });
  try {
    await expect(serverResource.create({ ...inputs({ provisionTimeoutSeconds: 5 }), owner })).rejects.toThrow(
      /step "install" failed on machine m01/,
    );
  } finally {
    lab.site.lab.setMachineFaults({});
    await closeStores();
  }
  const audit = await lab.site.store.transact(() => readAudit({ project: "demo" }), "read");
  const entry = audit.find((e) => e.owner === owner && e.stage === "finished")!;
  expect(entry.after).toMatchObject({ error: expect.stringMatching(/step "install" failed/) });
  // The installed system never called home from the layer-3 network its ports went to: the
  // error says where it was to come from.
  expect(entry.after).toMatchObject({
    error: expect.stringContaining("calls home from the layer-3 network (VLAN 20)"),
  });
  // In the order sent: the port onto the provisioning VLAN (after the VLAN itself, the first
  // time this process puts a port there), the one-time PXE boot and the power cycle; the port
  // onto the layer-3 VLAN once the installer said the disk is written; then the undo's power
  // off and port reset.
  const sent = entry.commands.filter((c) => !/ip link add /.test(c));
  const sys = "redfish POST /redfish/v1/Systems/sys-01/Actions/ComputerSystem.Reset";
  expect(sent.map((c) => c.replace(/^(\w+) .*?: (\S+ \S+).*$/, "$1 $2"))).toEqual([
    "switch ip link",
    "redfish PATCH /redfish/v1/Systems/sys-01",
    sys,
    "switch ip link",
    sys,
    "switch ip link",
  ]);
  expect(sent[0]).toMatch(/ip link set dev \S+ master vlan10\b/);
  expect(sent[3]).toMatch(/ip link set dev \S+ master vlan20\b/);
  expect(sent[5]).toMatch(/ip link set dev \S+ nomaster/);
  expect(sent[2]).toMatch(/ResetType=PowerCycle|ResetType=ForceRestart|ResetType=On/);
  expect(sent[4]).toMatch(/ResetType=ForceOff/);
  expect(await held()).toEqual({ servers: [], reservations: [], assignments: [] });
  await lab.site.store.setMachineState("m01", ["quarantine"], "available", null, OPS);
});

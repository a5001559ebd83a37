// Failures during create, each followed by a check that nothing is leaked: no address, port
// or machine stays held that no resource owns, and a machine that may hold a half-written OS
// is quarantined, never returned to the pool.
import type { ExampleStack } from "../../cli/example-stack";
import type { LabSite } from "../../cli/lab-site";
import { labStack, type LabStack } from "../helpers/lab-stack";
import { listServers, sessionByMac } from "../../provider/store/servers-sql";

jest.setTimeout(300_000);

let ex: ExampleStack;
let site: LabSite;
let lab: LabStack;
const log = (label: string) => (out: string) => process.stdout.write(`[${label}] ${out}`);

beforeAll(async () => {
  lab = await labStack("failures", {
    machines: 2,
    installTimeMs: 200,
    config: { servers: "1", provisionTimeoutSeconds: "5" },
  });
  ({ ex, site } = lab);
});

afterAll(() => lab?.stop());

/**
 * Nothing of a failed server may remain: its addresses, its server row, its claim, its switch
 * ports (back on no VLAN), its power (off: a machine left running could still boot something).
 */
async function nothingLeaked(): Promise<void> {
  expect(await site.store.transact(() => listServers(), "read")).toEqual([]);
  const reservations = await site.store.listReservations({ project: "demo" });
  expect(reservations.filter((r) => r.owner?.includes("#ip"))).toEqual([]);
  expect((await site.store.listAssignments({})).length).toBe(0);
  for (const m of (await site.store.inventory()).machines) expect(m.owner).toBeNull();
  for (const m of site.lab.machines) {
    expect([m.id, site.lab.vlanOf(m.id)]).toEqual([m.id, undefined]);
    expect([m.id, m.system.powerState]).toEqual([m.id, "Off"]);
  }
}

const release = async (state: "quarantine") => {
  for (const m of (await site.store.inventory()).machines.filter((x) => x.state === state))
    await site.store.setMachineState(m.id, [state], "available", "checked by the test", "ops");
};

async function upFails(label: string): Promise<string> {
  try {
    await ex.stack.up({ onOutput: log(label) });
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("pulumi up was expected to fail");
}

test("a switch that refuses: the step is named, nothing was powered, the machine goes back", async () => {
  site.lab.switch.sim.faults.refuse = true;
  try {
    const msg = await upFails("switch");
    expect(msg).toMatch(/step "switch" failed on machine m0\d/);
  } finally {
    site.lab.switch.sim.faults.refuse = false;
  }
  await nothingLeaked();
  expect((await site.store.inventory()).machines.map((m) => m.state)).toEqual(["available", "available"]);
});

test("a BMC that is down at power-on: named, and the machine is quarantined", async () => {
  for (const m of site.lab.machines) m.system.faults.unreachable = true;
  try {
    const msg = await upFails("bmc");
    expect(msg).toMatch(/step "power" failed on machine (m0\d)/);
  } finally {
    for (const m of site.lab.machines) m.system.faults.unreachable = false;
  }
  await nothingLeaked();
  const quarantined = (await site.store.inventory()).machines.filter((m) => m.state === "quarantine");
  expect(quarantined).toHaveLength(1);
  expect(quarantined[0]!.stateReason).toBe("provisioning failed at power");
  await release("quarantine");
});

test("a machine that never calls home: the wait ends at its deadline, the machine is quarantined", async () => {
  site.lab.setMachineFaults({ neverCallsHome: true });
  try {
    const msg = await upFails("silent");
    expect(msg).toMatch(/step "install" failed on machine m0\d: install: no report within 5 s/);
  } finally {
    site.lab.setMachineFaults({ neverCallsHome: false });
  }
  await nothingLeaked();
  const inv = (await site.store.inventory()).machines;
  expect(inv.filter((m) => m.state === "quarantine")).toHaveLength(1);
  // The same run, once the fault is gone, takes the other machine and succeeds.
  const up = await ex.stack.up({ onOutput: log("recovered") });
  expect(up.summary.result).toBe("succeeded");
  const servers = await site.store.transact(() => listServers(), "read");
  expect(servers.map((s) => s.state)).toEqual(["active"]);
});

test("a wipe that fails on destroy: the server is gone, its machine quarantined, never back in the pool", async () => {
  const [server] = await site.store.transact(() => listServers(), "read");
  site.lab.setMachineFaults({ failWipe: "disk 0 did not erase" });
  try {
    const destroy = await ex.stack.destroy({ onOutput: log("destroy") });
    expect(destroy.summary.result).toBe("succeeded");
  } finally {
    site.lab.setMachineFaults({ failWipe: false });
  }
  await nothingLeaked();
  const machine = (await site.store.inventory()).machines.find((m) => m.id === server!.machineId)!;
  expect(machine.state).toBe("quarantine");
  expect(machine.stateReason).toMatch(/^wipe failed: .*disk 0 did not erase/);
});

test("an install that reports failure: named with the installer's words, the machine quarantined", async () => {
  await release("quarantine");
  site.lab.setMachineFaults({ failInstall: "no disk matched /dev/sda" });
  try {
    const msg = await upFails("install-failed");
    expect(msg).toMatch(/step "install" failed on machine m0\d: install failed: no disk matched \/dev\/sda/);
  } finally {
    site.lab.setMachineFaults({ failInstall: false });
  }
  await nothingLeaked();
  const quarantined = (await site.store.inventory()).machines.filter((m) => m.state === "quarantine");
  expect(quarantined.map((m) => m.stateReason)).toEqual(["provisioning failed at install"]);
});

test("a reinstall that fails: powered off, session closed, state failed; the next up retries it unchanged", async () => {
  await release("quarantine");
  expect((await ex.stack.up({ onOutput: log("before-reinstall") })).summary.result).toBe("succeeded");
  await ex.stack.setConfig("userData", { value: '{"ignition":{"version":"3.4.0"}}' });
  site.lab.setMachineFaults({ failInstall: "no disk matched /dev/sda" });
  try {
    const msg = await upFails("reinstall-failed");
    expect(msg).toMatch(/step "install" failed on machine m0\d: install failed: no disk matched \/dev\/sda/);
  } finally {
    site.lab.setMachineFaults({ failInstall: false });
  }
  const [failed] = await site.store.transact(() => listServers(), "read");
  expect([failed!.state, failed!.failedStep]).toEqual(["failed", "install"]);
  const machine = site.lab.machine(failed!.machineId);
  expect(machine.system.powerState).toBe("Off");
  const open = await site.store.transact(() => sessionByMac(machine.mac), "read");
  expect(open).toBeUndefined();
  // The engine recorded the failed state, so `pulumi up` with nothing changed installs again.
  const state = (await ex.stack.exportStack()).deployment.resources.find((r: { type: string }) =>
    r.type.endsWith(":Server"),
  );
  expect(state.outputs.state).toBe("failed");
  const retry = await ex.stack.up({ onOutput: log("reinstall-retry") });
  expect(retry.summary.resourceChanges).toMatchObject({ update: 1 });
  const [active] = await site.store.transact(() => listServers(), "read");
  expect([active!.id, active!.state]).toEqual([failed!.id, "active"]);
  expect((retry.outputs.web!.value as { state: string }[]).map((w) => w.state)).toEqual(["active"]);
  await ex.stack.removeConfig("userData");
});

test("a delete that fails, then the server put back in the program: the next up installs it again", async () => {
  const [before] = await site.store.transact(() => listServers(), "read");
  const machine = site.lab.machine(before!.machineId);
  await ex.stack.setConfig("servers", { value: "0" });
  machine.system.faults.unreachable = true;
  try {
    const msg = await upFails("delete-failed");
    expect(msg).toMatch(/step "delete: power off" failed on machine m0\d/);
  } finally {
    machine.system.faults.unreachable = false;
    await ex.stack.setConfig("servers", { value: "1" });
  }
  const [stuck] = await site.store.transact(() => listServers(), "read");
  expect([stuck!.id, stuck!.state]).toEqual([before!.id, "deprovisioning"]);
  // The engine kept the outputs from before the delete (state active); the diff reads the store.
  const state = (await ex.stack.exportStack()).deployment.resources.find((r: { type: string }) =>
    r.type.endsWith(":Server"),
  );
  expect(state.outputs.state).toBe("active");
  const preview = await ex.stack.preview({ onOutput: log("put-back-preview") });
  expect(preview.changeSummary).toMatchObject({ update: 1 });
  expect(preview.stdout).toMatch(
    /web-1: the store has this server deprovisioning \(stopped at delete: power off\); the update installs it again/,
  );
  const up = await ex.stack.up({ onOutput: log("put-back") });
  expect(up.summary.resourceChanges).toMatchObject({ update: 1 });
  const [active] = await site.store.transact(() => listServers(), "read");
  expect([active!.id, active!.machineId, active!.state]).toEqual([before!.id, before!.machineId, "active"]);
  expect(machine.system.powerState).toBe("On");
  // Installed again, nothing is left to do.
  const after = await ex.stack.preview({ onOutput: log("put-back-after") });
  expect(after.changeSummary).not.toHaveProperty("update");
});

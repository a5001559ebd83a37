// Failures during create, each followed by a check that nothing is leaked: no address, port
// or machine stays held that no resource owns, and a machine that may hold a half-written OS
// is quarantined, never returned to the pool.
import type { ExampleStack } from "../../cli/example-stack";
import type { LabSite } from "../../cli/lab-site";
import { labStack, type LabStack } from "../helpers/lab-stack";
import { listServers } from "../../provider/store/servers-sql";

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

/** Nothing of a failed server may remain: its addresses, its server row, its claim. */
async function nothingLeaked(): Promise<void> {
  expect(await site.store.transact(() => listServers(), "read")).toEqual([]);
  const reservations = await site.store.listReservations({ project: "demo" });
  expect(reservations.filter((r) => r.owner?.includes("#ip"))).toEqual([]);
  expect((await site.store.listAssignments({})).length).toBe(0);
  for (const m of (await site.store.inventory()).machines) expect(m.owner).toBeNull();
}

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
  await site.store.setMachineState(
    quarantined[0]!.id,
    ["quarantine"],
    "available",
    "checked by the test",
    "ops",
  );
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

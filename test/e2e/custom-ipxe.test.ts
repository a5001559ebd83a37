// examples/custom-ipxe through the real engine on the built-in lab: a server that boots the
// user's own iPXE script is active once its machine has fetched the script (nothing of ours
// calls home); with alwaysPxe the BMC keeps the network first and every boot gets the script
// again; turning alwaysPxe off is an in-place change that puts the disk first; destroy wipes.
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { ExampleStack } from "../../cli/example-stack";
import type { LabSite } from "../../cli/lab-site";
import { labStack, type LabStack } from "../helpers/lab-stack";
import { listServers, serverTimeline } from "../../provider/store/servers-sql";

jest.setTimeout(300_000);

let ex: ExampleStack;
let site: LabSite;
let lab: LabStack;
let scripts: http.Server;
let fetched = 0;
const log = (label: string) => (out: string) => process.stdout.write(`[${label}] ${out}`);

beforeAll(async () => {
  // The user's own script, somewhere on their network: it boots nothing (the machine then
  // tries its disk), and counts how often it was fetched.
  scripts = http.createServer((_req, res) => {
    fetched++;
    res.end("#!ipxe\necho the user's own script\nexit\n");
  });
  await new Promise<void>((resolve) => scripts.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(scripts.address() as AddressInfo).port}/netboot.ipxe`;
  lab = await labStack("test", {
    example: "custom-ipxe",
    machines: 2,
    installTimeMs: 200,
    config: { ipxeScriptUrl: url, provisionTimeoutSeconds: "30" },
  });
  ({ ex, site } = lab);
});

afterAll(async () => {
  await lab?.stop();
  await new Promise((resolve) => scripts?.close(resolve));
});

const machineOf = async () => {
  const [server] = await site.store.transact(() => listServers("demo"), "read");
  return { server: server!, machine: site.lab.machine(server!.machineId) };
};

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("up: active once the machine fetched its script, which chains to the user's", async () => {
  const up = await ex.stack.up({ onOutput: log("up") });
  expect(up.summary.result).toBe("succeeded");
  expect(up.outputs.state!.value).toBe("active");
  const { server, machine } = await machineOf();
  expect(server.state).toBe("active");
  const timeline = await site.store.transact(() => serverTimeline(server.id), "read");
  expect(timeline.map((e) => e.action)).toEqual(expect.arrayContaining(["install.staged", "boot.fetched"]));
  expect(timeline.map((e) => e.action)).not.toContain("phone-home");
  // No root password: nothing of ours set one on what the script boots.
  const deployment = (await ex.stack.exportStack()).deployment as {
    resources: { type: string; outputs?: Record<string, unknown> }[];
  };
  const res = deployment.resources.find((r) => r.type.endsWith("baremetal:Server"))!;
  expect(res.outputs).toBeDefined();
  expect(res.outputs!.rootPassword).toBeUndefined();
  // The machine went on to the user's script: our boot server handed over to it.
  await until("the user's script fetched", () => fetched >= 1);
  expect(machine.sim.history().join("\n")).toMatch(/GET http:\/\/127\.0\.0\.1:\d+\/netboot\.ipxe -> 200/);
  // alwaysPxe: the network stays first in the boot order.
  expect(machine.system.boot).toEqual({ target: "Pxe", enabled: "Continuous" });
});

test("with alwaysPxe every boot gets the script again", async () => {
  const { machine } = await machineOf();
  // On the lab's layer-3 network now (20), outside the boot server's --allow: it is given its
  // alwaysPxe script there, as no install or wipe is under way.
  expect(site.lab.vlanOf(machine.id)).toBe(20);
  const before = fetched;
  machine.system.reset("ForceRestart");
  await until("the script fetched again after a reboot", () => fetched > before);
});

test("alwaysPxe off is an in-place change: the BMC puts the disk first", async () => {
  const { server } = await machineOf();
  await ex.stack.setConfig("alwaysPxe", { value: "false" });
  const up = await ex.stack.up({ onOutput: log("up2") });
  expect(up.summary.resourceChanges).toMatchObject({ update: 1 });
  expect(up.summary.resourceChanges?.replace ?? 0).toBe(0);
  const after = await machineOf();
  expect(after.server.id).toBe(server.id);
  expect(after.machine.system.boot).toEqual({ target: "Hdd", enabled: "Continuous" });
});

test("destroy wipes the machine and leaves nothing", async () => {
  const { machine } = await machineOf();
  const destroy = await ex.stack.destroy({ onOutput: log("destroy") });
  expect(destroy.summary.result).toBe("succeeded");
  expect(await site.store.transact(() => listServers(), "read")).toEqual([]);
  expect((await site.store.listAssignments({})).length).toBe(0);
  const m = (await site.store.inventory()).machines.find((x) => x.id === machine.id)!;
  expect(m).toMatchObject({ state: "available", owner: null });
  // Its wipe reported done (the boot server took the report: the destroy, woken by it, may
  // power the machine off before the machine has read the answer).
  expect(
    (await site.store.events(1000)).filter(
      (e) => e.action === "wipe.done" && e.actor === `machine:${machine.id}`,
    ),
  ).toHaveLength(1);
});

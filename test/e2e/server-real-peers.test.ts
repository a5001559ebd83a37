// examples/quickstart through the real engine against the real peers, with no simulator in the
// provider's path: ipmitool to ipmi_sim BMCs, SSH to the namespace switch, the boot-server
// command in its own namespace, and namespace machines that netboot over the switch's bridges.
// A machine can reach the boot server only through the provisioning VLAN, so a server that
// turns active proves the switch wiring as well as the BMC and boot-server paths.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { exampleStack, type ExampleStack } from "../../cli/example-stack";
import { listServers } from "../../provider/store/servers-sql";
import { reaches } from "../lab/ping";
import { startRealSite, type RealSite } from "../lab/real-site";

jest.setTimeout(300_000);

const MACHINES = 2;
let ex: ExampleStack;
let site: RealSite;
const log = (label: string) => (out: string) => process.stdout.write(`[${label}] ${out}`);

/** ping from a machine's namespace to the boot server, through the switch. */
function reachesBootServer(m: RealSite["machines"][number]): boolean {
  const address = new URL(site.bootServerUrl).hostname;
  return reaches(m.namespace, address);
}

beforeAll(async () => {
  ex = await exampleStack("quickstart", "rack1");
  fs.mkdirSync(path.dirname(ex.storeFile), { recursive: true });
  site = await startRealSite({ machines: MACHINES, storeFile: ex.storeFile, installMs: 300 });
  for (const [k, v] of Object.entries(site.env)) process.env[k] = v;
  for (const [k, v] of Object.entries({ ...site.config, provisionTimeoutSeconds: "120" }))
    await ex.stack.setConfig(k, { value: v });
});

afterAll(async () => {
  await ex?.stack.destroy().catch(() => undefined);
  await site?.stop();
  ex?.cleanup();
});

test("up: IPMI powers each machine, the switch wires it, it netboots, installs and calls home", async () => {
  // Before: no port is on the provisioning VLAN, so no machine can reach the boot server.
  for (const m of site.machines) expect(reachesBootServer(m)).toBe(false);

  const up = await ex.stack.up({ onOutput: log("up") });
  expect(up.summary.result).toBe("succeeded");
  const web = up.outputs.web!.value as { machine: string; state: string; publicIpv4: string }[];
  expect(web.map((w) => w.state)).toEqual(["active", "active"]);
  expect(web.map((w) => w.machine).sort()).toEqual(site.machines.map((m) => m.id));
  for (const w of web) expect(w.publicIpv4).toMatch(/^198\.51\.100\./);

  for (const [i, m] of site.machines.entries()) {
    // The agent ran in the namespace and its OS called home.
    expect(m.phase()).toBe("running");
    expect(m.installed()).toBe(true);
    expect(m.log()).toMatch(/power on, boot device pxe/);
    // The switch port really is on the provisioning VLAN's bridge, and that path works.
    expect(site.tor.portMaster(m.port)).toBe("vlan10");
    expect(reachesBootServer(m)).toBe(true);
    // What ipmitool asked of the BMC, in order: boot from the network, then power on.
    const events = site.bmcs[i]!.events();
    expect(events.indexOf("set boot pxe")).toBeGreaterThanOrEqual(0);
    expect(events.lastIndexOf("set power 1")).toBeGreaterThan(events.indexOf("set boot pxe"));
    expect(site.bmcs[i]!.state().power).toBe("on");
  }
  const servers = await site.store.transact(() => listServers("demo"), "read");
  expect(servers.map((s) => s.state)).toEqual(["active", "active"]);
});

test("refresh reads power from the BMC over IPMI", async () => {
  // Someone powers a machine off at its BMC, not through Pulumi.
  const bmc = site.bmcs[0]!;
  const off = spawnSync(
    "ipmitool",
    ["-I", "lanplus", "-C", "3", "-H", bmc.host, "-p", String(bmc.port), "-U", bmc.username, "-E"].concat([
      "chassis",
      "power",
      "off",
    ]),
    { env: { ...process.env, IPMITOOL_PASSWORD: bmc.password }, encoding: "utf8", timeout: 15_000 },
  );
  expect(off.status).toBe(0);
  await site.machines[0]!.waitFor(["off"], 10_000);
  await ex.stack.refresh({ onOutput: log("refresh") });
  const state = await ex.stack.exportStack();
  const power = (
    state.deployment.resources as { type: string; outputs: { machine: string; power: string } }[]
  )
    .filter((r) => r.type.endsWith("baremetal:Server"))
    .map((r) => [r.outputs.machine, r.outputs.power])
    .sort();
  expect(power).toEqual([
    [site.machines[0]!.id, "off"],
    [site.machines[1]!.id, "on"],
  ]);
});

test("destroy: each machine is wiped over the network, powered off, unwired, and back in the pool", async () => {
  const res = await ex.stack.destroy({ onOutput: log("destroy") });
  expect(res.summary.result).toBe("succeeded");
  for (const [i, m] of site.machines.entries()) {
    // The wipe image ran on the machine (its report is among the events below: the destroy,
    // woken by it, may power the machine off before the machine has read the answer); the
    // disk holds nothing bootable.
    expect(m.log()).toMatch(/wiping/);
    expect(m.installed()).toBe(false);
    expect(site.bmcs[i]!.state().power).toBe("off");
    expect(site.tor.portMaster(m.port)).toBeUndefined();
    expect(reachesBootServer(m)).toBe(false);
  }
  const inv = await site.store.inventory();
  expect(inv.machines.map((m) => m.state)).toEqual(["available", "available"]);
  const events = await site.store.events(200);
  expect(events.filter((e) => e.action === "wipe.done")).toHaveLength(MACHINES);
  expect(await site.store.listReservations({ project: "demo" })).toEqual([]);
  expect(await site.store.transact(() => listServers(), "read")).toEqual([]);
});

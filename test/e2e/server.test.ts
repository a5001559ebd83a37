// examples/quickstart through the real engine against the built-in lab: servers are created
// only once their OS has called home; refresh shows the hardware; in-place changes stay in
// place; destroy wipes, releases and leaves nothing behind.
import { spawnSync } from "node:child_process";
import type { ExampleStack } from "../../cli/example-stack";
import type { LabSite } from "../../cli/lab-site";
import { labStack, type LabStack } from "../helpers/lab-stack";
import { listServers, serverTimeline } from "../../provider/store/servers-sql";

jest.setTimeout(300_000);

let ex: ExampleStack;
let site: LabSite;
let lab: LabStack;
const log = (label: string) => (out: string) => process.stdout.write(`[${label}] ${out}`);

beforeAll(async () => {
  lab = await labStack("test", {
    machines: 4,
    installTimeMs: 300,
    config: { "baremetal:actor": "e2e-bot", provisionTimeoutSeconds: "60" },
  });
  ({ ex, site } = lab);
});

afterAll(() => lab?.stop());

test("up: three servers active, each on its own machine with its addresses", async () => {
  let shown = "";
  const up = await ex.stack.up({
    onOutput: (out) => {
      shown += out;
      log("up")(out);
    },
  });
  expect(up.summary.result).toBe("succeeded");
  const web = up.outputs.web!.value as {
    hostname: string;
    machine: string;
    publicIpv4: string;
    privateIpv4: string;
    publicIpv6: string;
    state: string;
  }[];
  expect(web.map((w) => w.state)).toEqual(["active", "active", "active"]);
  expect(new Set(web.map((w) => w.machine)).size).toBe(3);
  // Progress reached the engine's display: each server's line, whether or not it shared a Log RPC.
  for (const w of web) expect(shown).toContain(`${w.hostname}: active on machine ${w.machine}`);
  for (const w of web) {
    expect(w.publicIpv4).toMatch(/^198\.1[89]\./);
    expect(w.privateIpv4).toMatch(/^10\./);
    expect(w.publicIpv6).toMatch(/^2001:db8:100:/);
  }
  const servers = await site.store.transact(() => listServers("demo"), "read");
  expect(servers.map((s) => s.state)).toEqual(["active", "active", "active"]);
  const machines = (await site.store.inventory()).machines;
  expect(
    machines
      .filter((m) => m.state === "active")
      .map((m) => m.owner)
      .sort(),
  ).toEqual([
    "organization/quickstart/test/web-1",
    "organization/quickstart/test/web-2",
    "organization/quickstart/test/web-3",
  ]);
  // Each machine really netbooted and called home, and its port left the provisioning VLAN (10)
  // for the facility's layer-3 network (20), out of reach of the installs of others.
  for (const w of web) expect(site.lab.vlanOf(w.machine)).toBe(20);

  const preview = await ex.stack.preview();
  expect(preview.changeSummary).toEqual({ same: 5 });
});

test("the root password is a secret: encrypted in the state, never there in plaintext", async () => {
  const run = (args: string[]) => {
    const r = spawnSync("pulumi", ["stack", "export", "--stack", "test", ...args], {
      cwd: ex.dir,
      env: { ...process.env, ...ex.env },
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(r.stderr);
    return r.stdout;
  };
  type Resources = { deployment: { resources: { type: string; outputs: Record<string, unknown> }[] } };
  const servers = (text: string) =>
    (JSON.parse(text) as Resources).deployment.resources.filter((r) => r.type.endsWith("baremetal:Server"));
  const stored = run([]);
  // --show-secrets keeps the envelope and puts the value in it as JSON text.
  const passwords = servers(run(["--show-secrets"])).map(
    (r) => JSON.parse((r.outputs.rootPassword as { plaintext: string }).plaintext) as string,
  );
  expect(passwords).toHaveLength(3);
  for (const p of passwords) expect(p).toMatch(/^\S{16,}$/);
  for (const p of passwords) expect(stored).not.toContain(p);
  for (const r of servers(stored))
    expect(r.outputs.rootPassword).toMatchObject({
      "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
      ciphertext: expect.any(String),
    });
});

test("refresh records a machine someone powered off and a moved port; up repairs both; tags change in place", async () => {
  const up0 = await ex.stack.outputs();
  const web = up0.web!.value as { machine: string }[];
  const victim = site.lab.machine(web[0]!.machine);
  victim.system.reset("ForceOff"); // someone at the BMC, not through Pulumi
  expect(victim.system.powerState).toBe("Off");
  await ex.stack.refresh({ onOutput: log("refresh") });
  const state = await ex.stack.exportStack();
  const servers = (
    state.deployment.resources as { type: string; outputs: { hostname: string; power: string } }[]
  ).filter((r) => r.type.endsWith("baremetal:Server"));
  expect(servers.map((r) => r.outputs.power).sort()).toEqual(["off", "on", "on"]);

  // Someone moves a port off the layer-3 network at the switch: refresh records it too.
  site.lab.switch.sim.model.run(["ip", "link", "set", "dev", victim.switchPort, "nomaster"]);
  await ex.stack.refresh({ onOutput: log("refresh-ports") });
  const ports = (
    (await ex.stack.exportStack()).deployment.resources as {
      type: string;
      outputs: { ports: { mode: string; vlan?: number }[] };
    }[]
  )
    .filter((r) => r.type.endsWith("baremetal:Server"))
    .map((r) => r.outputs.ports[0]!);
  expect(ports.filter((p) => p.mode === "none")).toHaveLength(1);
  expect(ports.filter((p) => p.vlan === 20)).toHaveLength(2);
  // The next up puts the moved port back and powers the machine on (the program says it
  // runs): one server updated in place, nothing else.
  const repaired = await ex.stack.up({ onOutput: log("repair-ports") });
  expect(repaired.summary.resourceChanges).toMatchObject({ update: 1 });
  expect(repaired.summary.resourceChanges?.replace ?? 0).toBe(0);
  expect(site.lab.vlanOf(victim.id)).toBe(20);
  expect(victim.system.powerState).toBe("On");
  expect((await ex.stack.preview()).changeSummary).toEqual({ same: 5 });

  await ex.stack.setConfig("release", { value: "v2" });
  await ex.stack.setConfig("hostnamePrefix", { value: "www" });
  const up = await ex.stack.up({ onOutput: log("update") });
  expect(up.summary.resourceChanges).toMatchObject({ update: 3 });
  expect(up.summary.resourceChanges?.replace ?? 0).toBe(0);
  const outs = up.outputs.web!.value as { machine: string; hostname: string }[];
  expect(outs.map((w) => w.machine)).toEqual(web.map((w) => w.machine));
  expect(outs.map((w) => w.hostname)).toEqual(["www-1", "www-2", "www-3"]);
  const renamed = await site.store.transact(() => listServers("demo"), "read");
  expect(renamed.map((s) => s.hostname).sort()).toEqual(["www-1", "www-2", "www-3"]);
});

test("a userData change reinstalls in place: same machines, same addresses, a second install", async () => {
  const before = (await ex.stack.outputs()).web!.value as { machine: string; publicIpv4: string }[];
  await ex.stack.setConfig("userData", { value: '{"ignition":{"version":"3.4.0"}}' });
  const up = await ex.stack.up({ onOutput: log("reinstall") });
  expect(up.summary.resourceChanges).toMatchObject({ update: 3 });
  expect(up.summary.resourceChanges?.replace ?? 0).toBe(0);
  const after = up.outputs.web!.value as { machine: string; publicIpv4: string; state: string }[];
  expect(after.map((w) => [w.machine, w.publicIpv4])).toEqual(before.map((w) => [w.machine, w.publicIpv4]));
  expect(after.map((w) => w.state)).toEqual(["active", "active", "active"]);
  const servers = await site.store.transact(() => listServers("demo"), "read");
  for (const s of servers) {
    const timeline = await site.store.transact(() => serverTimeline(s.id), "read");
    expect(timeline.filter((t) => t.action === "phone-home")).toHaveLength(2);
  }
  // userData may hold credentials: a secret in the state, as the root password is (the
  // Automation API's export shows secrets' values, inside their envelope).
  const deployment = (await ex.stack.exportStack()).deployment as {
    resources: { type: string; outputs?: Record<string, unknown> }[];
  };
  const stored = deployment.resources.filter((r) => r.type.endsWith("baremetal:Server"));
  expect(stored).toHaveLength(3);
  for (const r of stored)
    expect(r.outputs!.userData).toHaveProperty(
      ["4dabf18193072939515e22adb298388d"],
      "1b47061264138c4ac30d75fd1eb44270",
    );
});

test("`pulumi up --replace` deletes the server first, then creates it anew: no take-over of the old one", async () => {
  // Created first, the new server adopted the old row by its owner key and the old one's delete
  // then wiped the machine under it, leaving the state pointing at a wiped server.
  const resources = (await ex.stack.exportStack()).deployment.resources as { urn: string; id?: string }[];
  const old = resources.find((r) => r.urn.endsWith("baremetal:Server::web-1"))!;
  const up = await ex.stack.up({ replace: [old.urn], onOutput: log("replace") });
  expect(up.summary.resourceChanges).toMatchObject({ replace: 1 });
  const now = ((await ex.stack.exportStack()).deployment.resources as { urn: string; id?: string }[]).find(
    (r) => r.urn === old.urn,
  )!;
  expect(now.id).not.toBe(old.id);
  const servers = await site.store.transact(() => listServers("demo"), "read");
  expect(servers.map((s) => s.state)).toEqual(["active", "active", "active"]);
  expect(servers.map((s) => s.id)).toContain(now.id);
  expect(servers.map((s) => s.id)).not.toContain(old.id);
  // The old one was wiped before it went: one wipe so far.
  expect((await site.store.events(500)).filter((e) => e.action === "wipe.done")).toHaveLength(1);
  const web = up.outputs.web!.value as { state: string; machine: string }[];
  expect(web.map((w) => w.state)).toEqual(["active", "active", "active"]);
  const machines = (await site.store.inventory()).machines;
  for (const w of web) expect(machines.find((m) => m.id === w.machine)?.state).toBe("active");
});

test("destroy: machines wiped and back in the pool, addresses released", async () => {
  const res = await ex.stack.destroy({ onOutput: log("destroy") });
  expect(res.summary.result).toBe("succeeded");
  const inv = await site.store.inventory();
  expect(inv.machines.map((m) => m.state)).toEqual(["available", "available", "available", "available"]);
  // Each machine that held a server was wiped before it went back: the wipe image reported.
  const events = await site.store.events(200);
  expect(events.filter((e) => e.action === "wipe.done")).toHaveLength(4); // with the replaced one's
  expect(await site.store.listReservations({ project: "demo" })).toEqual([]);
  expect(await site.store.transact(() => listServers(), "read")).toEqual([]);
});

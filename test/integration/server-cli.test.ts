// `baremetal server list|delete` on the built-in lab: a server whose stack will never delete it
// (a crashed run whose resource left the program) is found by its owner key and taken apart
// from the command line exactly as the resource's delete would: wiped, ports reset, addresses
// released, the machine back in the pool, checked against the operator's role and audited.
import { execFile } from "node:child_process";
import Database from "better-sqlite3";
import path from "node:path";
import { REPO } from "../../cli/example-stack";
import { ServerInputs } from "../../provider/servers/inputs";
import { createServer } from "../../provider/servers/lifecycle";
import { readAudit } from "../../provider/store/projects-sql";
import { listServers, serverTimeline } from "../../provider/store/servers-sql";
import { OPS, labSiteForFile } from "../helpers/lab-site";

jest.setTimeout(120_000);

const lab = labSiteForFile("server-cli", { machines: 2, installTimeMs: 200 });

/** The CLI in a child process; asynchronously, as the lab it talks to runs in this one. */
function cli(
  args: string[],
  actor = OPS,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(REPO, "bin/cli/main.js"), "server", ...args, "--store", lab.location],
      {
        encoding: "utf8",
        env: {
          ...process.env,
          ...lab.site.env,
          BAREMETAL_ACTOR: actor,
          BAREMETAL_BOOT_SERVER_URL: lab.site.boot.url,
        },
        timeout: 60_000,
      },
      (error, stdout, stderr) =>
        resolve({ status: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** A server on the lab, made as the provider makes one, under `owner`. */
function makeServer(hostname: string, owner: string, extra: Record<string, unknown> = {}) {
  const inputs = ServerInputs.parse({
    project: "demo",
    facility: "lab",
    plan: "lab.small",
    hostname,
    operatingSystem: "flatcar_stable",
    provisionTimeoutSeconds: 30,
    ...extra,
  });
  return createServer(lab.ctx(), inputs, owner);
}

test("an orphaned server is listed by its owner key and deleted from the command line", async () => {
  // A server its stack will never come back for: made here the way a run makes one.
  const p = await makeServer("orphan", "org/quickstart/crashed/orphan", {
    customData: { dbPassword: "s3cret-custom" },
  });
  expect(lab.site.lab.vlanOf(p.machine.id)).toBe(20); // the lab's layer-3 network

  const listed = await cli(["list", "--json"]);
  expect(listed.stderr).toBe("");
  expect(JSON.parse(listed.stdout)).toEqual([
    expect.objectContaining({ id: p.server.id, owner: "org/quickstart/crashed/orphan", state: "active" }),
  ]);
  // The inputs are listed as the audit log keeps them: userData and customData redacted.
  expect(listed.stdout).not.toContain("s3cret-custom");
  expect(JSON.parse(listed.stdout)[0].spec.customData).toBe("[redacted]");
  expect((await cli(["list", "--state", "provisioning", "--json"])).stdout.trim()).toBe("[]");

  // Someone who is not in the project may not.
  const stranger = await cli(["delete", p.server.id], "eve@example.com");
  expect(stranger.status).toBe(1);
  expect(stranger.stderr).toMatch(/AccessDenied|ProjectNotFound/);

  const deleted = await cli(["delete", p.server.id]);
  expect(deleted.stderr).toBe("");
  expect(deleted.status).toBe(0);
  expect(deleted.stdout).toMatch(
    /deleted server .* owner org\/quickstart\/crashed\/orphan.*machine m0\d is available/,
  );

  // Nothing of it is left, and it went the way a destroy goes: wiped first.
  expect(await lab.site.store.transact(() => listServers(), "read")).toEqual([]);
  expect(await lab.site.store.listAssignments({ server: p.server.id })).toEqual([]);
  const machine = (await lab.site.store.inventory()).machines.find((m) => m.id === p.machine.id)!;
  expect(machine).toMatchObject({ state: "available", owner: null });
  expect(lab.site.lab.vlanOf(p.machine.id)).toBeUndefined();
  // Its wipe reported done (the boot server took the report: the delete, woken by it, may
  // power the machine off before the machine has read the answer).
  expect(
    (await lab.site.store.events(1000)).filter(
      (e) => e.action === "wipe.done" && e.subject === `server:${p.server.id}`,
    ),
  ).toHaveLength(1);
  const audit = await lab.site.store.transact(() => readAudit({ project: "demo" }), "read");
  const deletes = audit.filter(
    (e) => e.resource === `Server:${p.server.id}` && e.action === "delete" && e.stage === "finished",
  );
  // The stranger's refused attempt is there too, first.
  expect(deletes.map((e) => [e.actor, e.after])).toEqual([
    [
      "eve@example.com",
      { refused: expect.stringMatching(/^AccessDenied: eve@example.com may not change servers/) },
    ],
    [OPS, null],
  ]);
  const entry = deletes[1]!;
  expect(entry).toMatchObject({ actor: OPS, owner: "org/quickstart/crashed/orphan", after: null });
  expect(entry.commands.length).toBeGreaterThan(0);
});

test("a server deleted with wipeOnDelete false leaves its machine in quarantine, never back in the pool", async () => {
  const p = await makeServer("scratch", "org/quickstart/dev/scratch", { wipeOnDelete: false });
  // Wipes started on the machine, by the reports the boot server took.
  const wipes = async () =>
    (await lab.site.store.events(1000)).filter(
      (e) => e.action === "wipe.started" && e.actor === `machine:${p.machine.id}`,
    ).length;
  const wipesBefore = await wipes();
  const deleted = await cli(["delete", p.server.id]);
  expect(deleted.stderr).toBe("");
  expect(deleted.stdout).toMatch(
    /machine m0\d is quarantine \(not wiped: its server was deleted with wipeOnDelete false\)/,
  );
  expect(await wipes()).toBe(wipesBefore); // not wiped: the delete started none
  const machine = (await lab.site.store.inventory()).machines.find((m) => m.id === p.machine.id)!;
  expect(machine).toMatchObject({ state: "quarantine", owner: null });
  expect(lab.site.lab.machine(p.machine.id).system.powerState).toBe("Off");
  await lab.site.store.setMachineState(machine.id, ["quarantine"], "available", "wiped by hand", "ops");
});

test("a create run again after its install finished (the engine never heard) takes it over as it is", async () => {
  const owner = "org/quickstart/dev/twice";
  const first = await makeServer("twice", owner);
  expect(first.rootPassword).toMatch(/.{16,}/);
  const lines: string[] = [];
  const write = jest.spyOn(process.stderr, "write").mockImplementation((chunk) => {
    lines.push(String(chunk));
    return true;
  });
  process.env.BAREMETAL_PROGRESS = "1";
  let again: Awaited<ReturnType<typeof makeServer>>;
  try {
    again = await makeServer("twice", owner);
  } finally {
    delete process.env.BAREMETAL_PROGRESS;
    write.mockRestore();
  }
  // The same server, machine and addresses; no second install.
  expect([again.server.id, again.machine.id, again.server.state]).toEqual([
    first.server.id,
    first.machine.id,
    "active",
  ]);
  expect(again.network.map((a) => a.address).sort()).toEqual(first.network.map((a) => a.address).sort());
  const timeline = await lab.site.store.transact(() => serverTimeline(first.server.id), "read");
  expect(timeline.filter((e) => e.action === "install.staged")).toHaveLength(1);
  // The first run's password was never stored anywhere: none is made up, and it says so.
  expect(again.rootPassword).toBeUndefined();
  expect(lines.join("")).toContain(
    `twice: took over the finished install on machine ${first.machine.id}; its root password was never stored`,
  );
  expect((await cli(["delete", first.server.id])).status).toBe(0);
});

test("an unknown server is a clear error", async () => {
  const r = await cli(["delete", "no-such-id"]);
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/server no-such-id is not in the store \(baremetal server list shows them\)/);
  const state = await cli(["list", "--state", "bogus"]);
  expect(state.status).toBe(1);
  expect(state.stderr).toMatch(
    /argument 'bogus' is invalid. Allowed choices are provisioning, active, reinstalling/,
  );
});

test("a BMC password the inventory names as {secret: key} comes from BAREMETAL_SECRET_key; without it the delete fails, says so, and the row keeps the step", async () => {
  const p = await makeServer("secret-bmc", "org/quickstart/crashed/secret-bmc");
  const db = new Database(lab.location.slice("sqlite:".length));
  try {
    // As an inventory with passwordRef: { secret: labBmc } writes it.
    const row = db.prepare("SELECT spec FROM machines WHERE id = ?").get(p.machine.id) as { spec: string };
    const spec = JSON.parse(row.spec);
    spec.bmc.redfish.passwordRef = { secret: "labBmc" };
    db.prepare("UPDATE machines SET spec = ? WHERE id = ?").run(JSON.stringify(spec), p.machine.id);
  } finally {
    db.close();
  }
  const without = await cli(["delete", p.server.id]);
  expect(without.status).toBe(1);
  expect(without.stderr).toContain(
    `step "delete: power off" failed on machine ${p.machine.id}: machine ${p.machine.id} redfish BMC: config key baremetal:labBmc is not set`,
  );
  expect(without.stderr).toContain("the environment variable BAREMETAL_SECRET_labBmc");
  const [stuck] = await lab.site.store.transact(() => listServers(), "read");
  expect([stuck!.state, stuck!.failedStep]).toEqual(["deprovisioning", "delete: power off"]);

  process.env.BAREMETAL_SECRET_labBmc = lab.site.env.BAREMETAL_LAB_PASSWORD;
  try {
    const deleted = await cli(["delete", p.server.id]);
    expect([deleted.status, deleted.stderr]).toEqual([0, ""]);
  } finally {
    delete process.env.BAREMETAL_SECRET_labBmc;
  }
  expect(await lab.site.store.transact(() => listServers(), "read")).toEqual([]);
  expect((await lab.site.store.getMachine(p.machine.id))?.state).toBe("available");
});

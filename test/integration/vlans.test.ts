// VLAN ids in the store, on every backend: the lowest free id of the facility's range (never
// the provisioning VLAN), exact ids, clear refusals, adoption after an interrupted run, and a
// database that refuses one id twice in a facility however many clients ask at once.
import Database from "better-sqlite3";
import fs from "node:fs";
import path from "node:path";
import { Client } from "pg";
import { applyInventoryFile } from "../../provider/inventory/apply";
import { openStore } from "../../provider/store/open";
import type { Store } from "../../provider/store/store";
import {
  attachPort,
  createVlan,
  deleteVlan,
  detachPort,
  listVlans,
  updateVlan,
  type VlanRequest,
} from "../../provider/store/vlans-sql";
import { VlanError } from "../../provider/vlans/errors";
import { INVENTORY_LOCK } from "../../provider/store/postgres-schema";
import { backends, freshStore, postgresBackend } from "../helpers/backends";
import { failure } from "../helpers/failure";

jest.setTimeout(60_000);

// The fixture's facility lab1 (provisioning VLAN 10) with a VLAN range of three ids.
const INVENTORY = fs
  .readFileSync(path.join(__dirname, "../fixtures/inventory.yaml"), "utf8")
  .replace("vlans: { from: 1000, to: 1999 }", "vlans: { from: 11, to: 13 }");

let n = 0;
const req = (over: Partial<VlanRequest> = {}): VlanRequest => ({
  id: `vlan-${++n}`,
  owner: null,
  project: "demo",
  facility: "lab1",
  description: null,
  tags: [],
  ...over,
});
const errorOf = (p: Promise<unknown>) => failure(p, VlanError);

describe.each(backends)("VLANs on $name", (backend) => {
  let store: Store;
  let ctx: Awaited<ReturnType<typeof freshStore>>;
  const create = (r: VlanRequest) => store.transact((at) => createVlan(r, "test", at));

  beforeEach(async () => {
    ctx = await freshStore(backend);
    store = ctx.store;
    await applyInventoryFile(store, INVENTORY, { prune: false, dryRun: false, actor: "test" });
  });
  afterEach(() => ctx.cleanup());

  test("ids come from the range, lowest free first", async () => {
    const vids = [];
    for (let i = 0; i < 3; i++) vids.push((await create(req())).vlan.vid);
    expect(vids).toEqual([11, 12, 13]);
    const full = await errorOf(create(req()));
    expect(full.code).toBe("NoVlanAvailable");
    expect(full.message).toBe("facility lab1: every VLAN id of its range 11-13 is in use");
    // A freed id is taken again.
    const first = (await store.transact(() => listVlans({ facility: "lab1" }), "read"))[0]!;
    expect(await store.transact((at) => deleteVlan(first.id, "test", at))).toBe(true);
    expect((await create(req())).vlan.vid).toBe(11);
  });

  test("exact ids: granted when free; taken, out of range and the provisioning VLAN are refused", async () => {
    expect((await create(req({ vid: 13 }))).vlan.vid).toBe(13);
    const taken = await errorOf(create(req({ vid: 13 })));
    expect(taken.code).toBe("VlanTaken");
    expect(taken.message).toBe("vid: 13 is already in use in facility lab1");
    const outside = await errorOf(create(req({ vid: 2000 })));
    expect(outside.code).toBe("VlanOutOfRange");
    expect(outside.message).toBe("vid: 2000 is outside facility lab1's VLAN range 11-13");
    const provisioning = await errorOf(create(req({ vid: 10 })));
    expect(provisioning.message).toBe("vid: 10 is facility lab1's provisioning VLAN; choose one of 11-13");
    expect((await errorOf(create(req({ facility: "nowhere" })))).code).toBe("FacilityNotFound");
    // Nothing half-written by the refusals.
    expect((await store.transact(() => listVlans(), "read")).map((v) => v.vid)).toEqual([13]);
  });

  test("a rerun of an interrupted create adopts the VLAN its owner took", async () => {
    const first = await create(req({ owner: "org/p/s/net" }));
    const again = await create(req({ owner: "org/p/s/net" }));
    expect(again).toMatchObject({ adopted: true, vlan: { id: first.vlan.id, vid: 11 } });
    // Another owner, or the same owner asking for another id, gets a new one.
    expect((await create(req({ owner: "org/p/s/other" }))).vlan.vid).toBe(12);
    expect((await create(req({ owner: "org/p/s/net", vid: 13 }))).adopted).toBe(false);
  });

  test("description and tags change in place; delete refuses while a port carries the VLAN", async () => {
    const { vlan } = await create(req());
    const updated = await store.transact((at) =>
      updateVlan(vlan.id, { description: "storage", tags: ["a"] }, "test", at),
    );
    expect(updated).toMatchObject({ vid: vlan.vid, description: "storage", tags: ["a"] });
    await store.transact((at) =>
      attachPort(
        {
          vlanId: vlan.id,
          serverId: "s1",
          machineId: "r1-01",
          nic: "eth0",
          switch: "tor1",
          port: "swp1",
          mode: "tagged",
        },
        "test",
        at,
      ),
    );
    const inUse = await errorOf(store.transact((at) => deleteVlan(vlan.id, "test", at)));
    expect(inUse.code).toBe("VlanInUse");
    expect(inUse.message).toBe(
      "VLAN 11 in facility lab1 is still attached to 1 port(s): tor1 swp1 (machine r1-01, tagged); " +
        "detach those servers from it first, or delete with force to detach them",
    );
    await store.transact((at) => detachPort(vlan.id, "tor1", "swp1", "test", at));
    expect(await store.transact((at) => deleteVlan(vlan.id, "test", at))).toBe(true);
    expect(await store.transact(() => listVlans(), "read")).toEqual([]);
  });

  test("the database itself refuses a second VLAN with one id in a facility", async () => {
    await create(req({ vid: 11 }));
    const sql =
      "INSERT INTO vlans (id, project, facility, vid, tags, created_by, created_at, updated_at) " +
      "VALUES ('raw', 'p', 'lab1', 11, '[]', 'raw', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')";
    let refusal = "inserted";
    if (backend.name === "sqlite") {
      const db = new Database(ctx.location.slice("sqlite:".length));
      try {
        db.exec(sql);
      } catch (e) {
        refusal = (e as Error).message;
      } finally {
        db.close();
      }
    } else {
      const c = new Client({ connectionString: ctx.location });
      await c.connect();
      refusal = await c.query(sql).then(
        () => "inserted",
        (e: Error) => e.message,
      );
      await c.end();
    }
    expect(refusal).toMatch(/UNIQUE constraint failed: vlans.facility, vlans.vid|duplicate key value/);
  });

  test("clients asking at once each get a different id", async () => {
    const clients = await Promise.all([...Array(6).keys()].map(() => openStore(ctx.location)));
    try {
      const results = await Promise.allSettled(
        clients.map((c) => c.transact((at) => createVlan(req(), "test", at))),
      );
      const vids = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.vlan.vid] : []));
      const refused = results.flatMap((r) => (r.status === "rejected" ? [(r.reason as VlanError).code] : []));
      // Three ids in the range: three clients get one each, the rest are told there is none.
      expect(vids.sort()).toEqual([11, 12, 13]);
      expect(refused).toEqual(["NoVlanAvailable", "NoVlanAvailable", "NoVlanAvailable"]);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });
});

// PostgreSQL alone: SQLite's one writer at a time already keeps a VLAN create and an inventory
// apply apart.
test("PostgreSQL: a VLAN create waits for an inventory apply changing its facility, and reads what it committed", async () => {
  const ctx = await freshStore(postgresBackend);
  const apply = new Client({ connectionString: ctx.location });
  await apply.connect();
  try {
    await applyInventoryFile(ctx.store, INVENTORY, { prune: false, dryRun: false, actor: "test" });
    // An apply midway: it holds the inventory's lock and has moved the range and the
    // provisioning VLAN, not yet committed.
    await apply.query("BEGIN");
    await apply.query("SELECT pg_advisory_xact_lock($1)", [INVENTORY_LOCK]);
    await apply.query("UPDATE facilities SET vlan_from = 12, provisioning_vlan = 11 WHERE code = 'lab1'");
    let settled = false;
    const creating = ctx.store
      .transact((at) => createVlan(req(), "test", at))
      .finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(settled).toBe(false);
    await apply.query("COMMIT");
    // 11 is the provisioning VLAN now: never a project's.
    expect((await creating).vlan.vid).toBe(12);
  } finally {
    await apply.end();
    await ctx.cleanup();
  }
});

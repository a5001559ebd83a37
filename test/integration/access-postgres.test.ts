// On PostgreSQL the database itself enforces project membership, per login. These tests go
// around the provider entirely: raw SQL as a collaborator of project A against project B's
// rows, as a reader, and as an owner against the audit log. Then the same logins through the
// provider, which acts as whoever the login is.
import { randomBytes, randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Client } from "pg";
import { AccessError } from "../../provider/access/errors";
import { applyInventoryFile } from "../../provider/inventory/apply";
import * as ipReservation from "../../provider/resources/ip-reservation";
import { closeStores, configure } from "../../provider/runtime";
import { HoldTimeout } from "../../provider/store/hold";
import { openStore } from "../../provider/store/open";
import { PostgresStore } from "../../provider/store/postgres";
import { addMember, createProject, readAudit, removeMember } from "../../provider/store/projects-sql";
import { claimServer, finishServer } from "../../provider/store/servers-sql";
import type { Op } from "../../provider/store/inventory-sql";
import { ACTIONS, can, type Action, type Role } from "../../provider/access/roles";
import type { Store } from "../../provider/store/store";
import { allocateRequest } from "../helpers/requests";
import { createVlan, deleteVlan, readVlan } from "../../provider/store/vlans-sql";
import { postgresBackend } from "../helpers/backends";
import { failure } from "../helpers/failure";

jest.setTimeout(120_000);

const INVENTORY = fs.readFileSync(path.join(__dirname, "../fixtures/inventory.yaml"), "utf8");
const tag = randomBytes(3).toString("hex");
const user = (name: string) => `${name}-${tag}@example.com`;
const USERS = {
  alice: user("alice"),
  bob: user("bob"),
  carol: user("carol"),
  rita: user("rita"),
  adam: user("adam"),
};
const PASSWORD = randomBytes(12).toString("hex");

let admin: Store;
let location: string;
let cleanup: () => Promise<void>;
let bReservation: string;
let aReservation: string;
const clients: Client[] = [];

const urlFor = (login: string) => {
  const u = new URL(location);
  u.username = encodeURIComponent(login);
  u.password = PASSWORD;
  return u.toString();
};

async function as(login: string): Promise<Client> {
  const c = new Client({ connectionString: urlFor(login) });
  await c.connect();
  clients.push(c);
  return c;
}

/** The statement's outcome: rows it touched, or the database's refusal. */
async function outcome(c: Client, sql: string, params: unknown[] = []): Promise<string> {
  try {
    const r = await c.query(sql, params);
    return `${r.rowCount ?? 0} rows`;
  } catch (e) {
    const err = e as { code?: string; message: string };
    return `refused ${err.code}: ${err.message}`;
  }
}

beforeAll(async () => {
  const fresh = await postgresBackend.fresh();
  location = fresh.location;
  cleanup = fresh.cleanup;
  admin = await openStore(location);
  await applyInventoryFile(admin, INVENTORY, { prune: false, dryRun: false, actor: "test" });
  for (const u of Object.values(USERS)) await (admin as PostgresStore).addLogin(u, PASSWORD);
  await admin.transact(function* (at) {
    yield* createProject({ name: "a", description: null, owner: USERS.alice }, "test", at);
    yield* createProject({ name: "b", description: null, owner: USERS.bob }, "test", at);
    yield* addMember(
      { project: "a", user: USERS.carol, role: "collaborator", sshKeys: [], owner: null },
      "test",
      at,
    );
    yield* addMember(
      { project: "a", user: USERS.rita, role: "read_only", sshKeys: [], owner: null },
      "test",
      at,
    );
    yield* addMember({ project: "a", user: USERS.adam, role: "admin", sshKeys: [], owner: null }, "test", at);
  });

  // Bob builds project B through his own login: a block, a server on a machine, a VLAN.
  const bob = await openStore(urlFor(USERS.bob));
  try {
    bReservation = (await bob.allocate(allocateRequest({ project: "b", actor: USERS.bob }))).id;
    await bob.transact((at) =>
      claimServer(
        {
          id: "srv-b",
          owner: "org/b/s/web",
          project: "b",
          facility: "lab1",
          plan: "c3.small",
          hostname: "web",
          spec: {},
        },
        USERS.bob,
        at,
      ),
    );
    await bob.transact((at) =>
      createVlan(
        { id: "vlan-b", owner: null, project: "b", facility: "lab1", description: null, tags: [] },
        USERS.bob,
        at,
      ),
    );
  } finally {
    await bob.close();
  }
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  await closeStores();
  await admin?.close();
  await cleanup?.();
  // Logins are the cluster's, not the database's: ours go with the test.
  const c = new Client({ connectionString: process.env.BAREMETAL_TEST_POSTGRES_URL });
  await c.connect();
  for (const u of Object.values(USERS)) await c.query(`DROP ROLE IF EXISTS "${u}"`).catch(() => undefined);
  await c.end();
});

test("a collaborator of A can neither see nor change B's rows with raw SQL", async () => {
  const carol = await as(USERS.carol);
  const count = async (table: string) =>
    Number((await carol.query(`SELECT count(*) AS n FROM ${table} WHERE project = 'b'`)).rows[0].n);
  expect(await count("reservations")).toBe(0);
  expect(await count("servers")).toBe(0);
  expect(await count("vlans")).toBe(0);
  expect(await count("project_members")).toBe(0);
  expect(await count("reservation_rows")).toBe(0);

  // Changes aimed at B's rows touch nothing, or are refused outright.
  expect(await outcome(carol, "UPDATE reservations SET description = 'mine' WHERE project = 'b'")).toBe(
    "0 rows",
  );
  expect(await outcome(carol, "UPDATE servers SET hostname = 'x' WHERE project = 'b'")).toBe("0 rows");
  expect(await outcome(carol, "DELETE FROM servers WHERE project = 'b'")).toBe("0 rows");
  expect(await outcome(carol, "DELETE FROM vlans WHERE project = 'b'")).toBe("0 rows");
  expect(
    await outcome(carol, "UPDATE machines SET state = 'available', owner = NULL WHERE owner = 'org/b/s/web'"),
  ).toBe("0 rows");
  expect(await outcome(carol, "DELETE FROM reservations WHERE project = 'b'")).toMatch(
    /^refused 42501: permission denied/,
  );
  expect(await outcome(carol, "UPDATE reservations SET cidr = '10.10.0.0/29' WHERE project = 'a'")).toMatch(
    /^refused 42501: permission denied/,
  );
  expect(await outcome(carol, "DELETE FROM free_blocks")).toMatch(/^refused 42501: permission denied/);
  expect(
    await outcome(
      carol,
      "INSERT INTO vlans (id, project, facility, vid, tags, created_by, created_at, updated_at) VALUES ('x', 'b', 'lab1', 1500, '[]', $1, now(), now())",
      [USERS.carol],
    ),
  ).toMatch(/^refused 42501: new row violates row-level security policy/);
  // Joining B, or making herself owner of A, is refused too.
  expect(
    await outcome(
      carol,
      "INSERT INTO project_members (project, user_email, role, ssh_keys, created_by, created_at, updated_at) VALUES ('b', $1, 'owner', '[]', $1, now(), now())",
      [USERS.carol],
    ),
  ).toMatch(/^refused 42501: new row violates row-level security policy/);
  expect(
    await outcome(carol, "UPDATE project_members SET role = 'owner' WHERE user_email = $1", [USERS.carol]),
  ).toBe("0 rows");
  // The checked functions refuse B's blocks whoever calls them.
  expect(
    await outcome(
      carol,
      "SELECT * FROM bm_allocate(gen_random_uuid(), 'b', 'private_ipv4', 'lab1', 29, NULL, '[]', NULL, NULL, $1)",
      [USERS.carol],
    ),
  ).toBe("refused BM011: AccessDenied");
  expect(await outcome(carol, "SELECT bm_release($1, $2)", [bReservation, USERS.carol])).toBe(
    "refused BM011: AccessDenied",
  );
  // Through the store, the refusal is worded as allocate's is.
  const carolStore = await openStore(urlFor(USERS.carol));
  try {
    const denied = await failure(carolStore.release(bReservation, USERS.carol), AccessError);
    expect([denied.code, denied.message]).toEqual([
      "AccessDenied",
      `${USERS.carol} may not change IP reservations in project b: the database requires the collaborator role or higher`,
    ]);
  } finally {
    await carolStore.close();
  }
  expect(
    await outcome(
      carol,
      "SELECT * FROM bm_allocate_held(gen_random_uuid(), 'b', 'private_ipv4', 'lab1', 29, NULL, '[]', NULL, NULL, 'x')",
    ),
  ).toMatch(/^refused 42501: permission denied for function/);
  // Nor can she write in someone else's name.
  expect(
    await outcome(
      carol,
      "INSERT INTO audit (at, actor, project, resource, action, commands) VALUES (now(), $1, 'a', 'x', 'create', '[]')",
      [USERS.alice],
    ),
  ).toMatch(/^refused 42501: new row violates row-level security policy/);
  // B is untouched.
  const b = await admin.getReservation(bReservation);
  expect(b?.description).toBeNull();
});

test("events: a member adds none to another project's server, VLAN or project", async () => {
  const carol = await as(USERS.carol);
  const add = (subject: string, action: string, detail: unknown = {}) =>
    outcome(carol, "INSERT INTO events (actor, action, subject, detail) VALUES ($1, $2, $3, $4)", [
      USERS.carol,
      action,
      subject,
      JSON.stringify(detail),
    ]);
  const refused = /^refused 42501: new row violates row-level security policy/;
  // B's timeline and log are B's: not even a finish of a server that is still there.
  expect(await add("server:srv-b", "install.failed")).toMatch(refused);
  expect(await add("server:srv-b", "server.finish")).toMatch(refused);
  expect(await add("vlan:vlan-b", "vlan.update")).toMatch(refused);
  expect(await add("project:b", "member.add", { user: USERS.carol, role: "owner" })).toMatch(refused);
  // A's own, and the finish of a server that is gone (its event follows the delete), are taken.
  expect(await add("project:a", "member.update", { user: USERS.carol })).toBe("1 rows");
  expect(await add("server:gone-1", "server.finish")).toBe("1 rows");
  expect(await add("server:gone-1", "install.failed")).toMatch(refused);
  expect(await add("vlan:gone-2", "vlan.delete")).toBe("1 rows");
  expect(await add("vlan:gone-2", "vlan.update")).toMatch(refused);
  // Nobody sees B's server with carol's events in it.
  const { rows } = await (
    await as(USERS.bob)
  ).query("SELECT action FROM events WHERE subject = 'server:srv-b' AND actor = $1", [USERS.carol]);
  expect(rows).toEqual([]);
});

test("machines: a member changes only a machine its project's server names, and never to maintenance", async () => {
  for (const login of [USERS.rita, USERS.carol]) {
    const c = await as(login);
    // Neither a reader nor a collaborator may quarantine or take the site's available machines.
    expect(await outcome(c, "UPDATE machines SET state = 'quarantine' WHERE state = 'available'")).toBe(
      "0 rows",
    );
    expect(
      await outcome(c, "UPDATE machines SET state = 'provisioning', owner = 'x' WHERE state = 'available'"),
    ).toBe("0 rows");
  }
  // Carol claims one through a server of A, as the provider does; that machine is hers to change
  // along the server lifecycle, but not to take out of it.
  const carol = await openStore(urlFor(USERS.carol));
  try {
    // Through the store (the CLI's machine maintenance), a machine she holds no server on is
    // refused as not hers to change, not as a race.
    const free = (await carol.inventory()).machines.find((m) => m.state === "available")!;
    expect(
      await failure(
        carol.setMachineState(free.id, ["available"], "maintenance", "x", USERS.carol),
        AccessError,
      ),
    ).toMatchObject({
      code: "AccessDenied",
      message: expect.stringMatching(/may not move it to maintenance/),
    });
    const { machine } = await carol.transact((at) =>
      claimServer(
        {
          id: "srv-a",
          owner: "org/a/s/db",
          project: "a",
          facility: "lab1",
          plan: "c3.small",
          hostname: "db",
          spec: {},
        },
        USERS.carol,
        at,
      ),
    );
    const c = await as(USERS.carol);
    expect(await outcome(c, "UPDATE machines SET state = 'maintenance' WHERE id = $1", [machine.id])).toMatch(
      /^refused 42501: new row violates row-level security policy/,
    );
    expect(await outcome(c, "UPDATE machines SET state = 'active' WHERE id = $1", [machine.id])).toBe(
      "1 rows",
    );
    // Her own project's server takes her events (the events test has only other projects').
    expect(
      await outcome(
        c,
        "INSERT INTO events (actor, action, subject, detail) VALUES ($1, 'install.failed', 'server:srv-a', '{}')",
        [USERS.carol],
      ),
    ).toBe("1 rows");
    // And she gives it back, as a deleted server does.
    await carol.transact((at) => finishServer("srv-a", "available", null, USERS.carol, at));
  } finally {
    await carol.close();
  }
});

test("machines: a server row names only an available machine, goes only once the machine is given back; a session names its server's machine", async () => {
  const c = await as(USERS.carol);
  const serverRow = (id: string, machine: string) =>
    outcome(
      c,
      `INSERT INTO servers (id, owner, project, facility, plan, machine_id, hostname, state, spec, created_by, created_at, updated_at)
       VALUES ($1, $2, 'a', 'lab1', 'c3.small', $3, 'x', 'provisioning', '{}', $4, now(), now())`,
      [id, `o/a/s/${id}`, machine, USERS.carol],
    );
  const refused = /^refused 42501: new row violates row-level security policy/;
  await admin.setMachineState("r1-03", ["available"], "maintenance", "bad PSU", "test");
  const carol = await openStore(urlFor(USERS.carol));
  try {
    // A machine in maintenance is not named by a member's server, so not changed by one.
    expect(await serverRow("x1", "r1-03")).toMatch(refused);
    // One quarantined by a failed wipe neither: its disks may hold another tenant's data.
    const claim = (id: string) =>
      carol.transact((at) =>
        claimServer(
          {
            id,
            owner: `org/a/s/${id}`,
            project: "a",
            facility: "lab1",
            plan: "c3.small",
            hostname: id,
            spec: {},
          },
          USERS.carol,
          at,
        ),
      );
    const { machine } = await claim("srv-q");
    await carol.transact((at) => finishServer("srv-q", "quarantine", "wipe failed", USERS.carol, at));
    expect(await serverRow("x2", machine.id)).toMatch(refused);
    expect(await outcome(c, "UPDATE machines SET state = 'available' WHERE id = $1", [machine.id])).toBe(
      "0 rows",
    );
    await admin.setMachineState(machine.id, ["quarantine"], "available", null, "test");

    // Her own server's machine: a session for it, yes; for B's machine beside her server, no.
    await claim("srv-own");
    const session = (machineId: string) =>
      outcome(
        c,
        `INSERT INTO provisioning (token, server_id, machine_id, kind, state, staged, created_at, updated_at)
         VALUES ($1, 'srv-own', $2, 'install', 'staged', '{"ipxe": "#!ipxe"}', now() + interval '1 day', now())`,
        [randomBytes(24).toString("base64url"), machineId],
      );
    expect(await session("r1-01")).toMatch(refused);
    expect(await session(machine.id)).toBe("1 rows");
    // Held under her server's owner key: not let go of without an owner, nor the row deleted
    // while the machine is still held (no command would free it after).
    expect(
      await outcome(c, "UPDATE machines SET state = 'provisioning', owner = NULL WHERE id = $1", [
        machine.id,
      ]),
    ).toMatch(refused);
    expect(await outcome(c, "DELETE FROM servers WHERE id = 'srv-own'")).toBe("0 rows");
    await carol.transact((at) => finishServer("srv-own", "available", null, USERS.carol, at));
    expect((await admin.inventory()).machines.find((m) => m.id === machine.id)).toMatchObject({
      state: "available",
      owner: null,
    });
  } finally {
    await carol.close();
    await admin.setMachineState("r1-03", ["maintenance"], "available", null, "test");
  }
});

test("a login's password reaches the server only as its SCRAM verifier, and signs in", async () => {
  const user = "zoe@example.com";
  const password = `Tr0ub4dor&3-${randomBytes(6).toString("hex")}-ünï\u00a0code`;
  const sent: string[] = [];
  const query = Client.prototype.query;
  const spy = jest.spyOn(Client.prototype, "query").mockImplementation(function (
    this: Client,
    ...args: unknown[]
  ) {
    sent.push(JSON.stringify(args[0]), JSON.stringify(args[1] ?? null));
    return (query as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof query);
  try {
    await (admin as PostgresStore).addLogin(user, password);
  } finally {
    spy.mockRestore();
  }
  expect(sent.join("\n")).toMatch(/PASSWORD 'SCRAM-SHA-256\$4096:/);
  expect(sent.join("\n")).not.toContain(password.slice(0, 12));
  const u = new URL(location);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(password);
  const c = new Client({ connectionString: u.toString() });
  await c.connect();
  try {
    expect((await c.query<{ who: string }>("SELECT session_user AS who")).rows[0]!.who).toBe(user);
  } finally {
    await c.end();
  }
  const ro = new Client({ connectionString: process.env.BAREMETAL_TEST_POSTGRES_URL });
  await ro.connect();
  await ro.query(`DROP ROLE IF EXISTS "${user}"`).catch(() => undefined);
  await ro.end();
});

test("a member's rows say who wrote them, whatever actor it passes", async () => {
  const c = await as(USERS.carol);
  const { rows } = await c.query<{ id: string; created_by: string }>(
    "SELECT id, created_by FROM bm_allocate($1, 'a', 'private_ipv4', 'lab1', 30, NULL, '[]'::jsonb, NULL, NULL, $2)",
    [randomUUID(), USERS.alice],
  );
  expect(rows[0]!.created_by).toBe(USERS.carol);
  await c.query("SELECT bm_release($1, $2)", [rows[0]!.id, USERS.alice]);
  const vlanRow = (by: string) =>
    outcome(
      c,
      `INSERT INTO vlans (id, owner, project, facility, vid, description, tags, created_by, created_at, updated_at)
       VALUES ('v-signed', NULL, 'a', 'lab1', 1500, NULL, '[]', $1, now(), now())`,
      [by],
    );
  expect(await vlanRow(USERS.alice)).toMatch(/^refused 42501: new row violates row-level security policy/);
  expect(await vlanRow(USERS.carol)).toBe("1 rows");
  expect(await outcome(c, "DELETE FROM vlans WHERE id = 'v-signed'")).toBe("1 rows");
});

test("VLAN ids: a member's VLAN takes the lowest id free across every project, even those it cannot see", async () => {
  const carol = await openStore(urlFor(USERS.carol));
  try {
    const { vlan } = await carol.transact((at) =>
      createVlan(
        { id: "vlan-a", owner: null, project: "a", facility: "lab1", description: null, tags: [] },
        USERS.carol,
        at,
      ),
    );
    const b = await admin.transact(() => readVlan("vlan-b"), "read");
    expect(vlan.vid).toBe(b!.vid + 1);
    // Carol still sees none of B's VLANs themselves.
    const c = await as(USERS.carol);
    expect(await outcome(c, "SELECT * FROM vlans WHERE project = 'b'")).toBe("0 rows");
  } finally {
    await carol.close();
  }
});

const blockInA = (store: Store, actor: string) =>
  store.allocate({
    project: "a",
    type: "private_ipv4",
    facility: "lab1",
    block: { prefixLength: 30 },
    tags: [],
    description: null,
    owner: null,
    actor,
  });

/**
 * One action in project A at the store level, as `login`: no provider check runs, so what
 * refuses is the database. "allowed", or "denied" with the database's refusal.
 */
async function storeAttempt(login: string, action: Action, n: number): Promise<string> {
  const store = await openStore(urlFor(login));
  const op = <T>(fn: (at: string) => Op<T>) => store.transact(fn);
  try {
    if (action === "read") {
      const rows = await store.listReservations({ project: "a" });
      // A's own block, made by its owner in beforeAll of this test: seen by members only.
      if (!rows.some((r) => r.id === aReservation))
        throw Object.assign(new Error("not visible"), { code: "hidden" });
    }
    if (action === "reservation.write") {
      const r = await blockInA(store, login);
      await store.updateReservation(r.id, { tags: ["x"], description: "d" }, login);
      await store.release(r.id, login);
    }
    if (action === "server.write") {
      const { server } = await op((at) =>
        claimServer(
          {
            id: `m-${n}`,
            owner: `org/a/s/m${n}`,
            project: "a",
            facility: "lab1",
            plan: "c3.small",
            hostname: "m",
            spec: {},
          },
          login,
          at,
        ),
      );
      await op((at) => finishServer(server.id, "available", null, login, at));
    }
    if (action === "vlan.write") {
      const { vlan } = await op((at) =>
        createVlan(
          { id: `v-${n}`, owner: null, project: "a", facility: "lab1", description: null, tags: [] },
          login,
          at,
        ),
      );
      await op((at) => deleteVlan(vlan.id, login, at));
    }
    if (action === "member.write" || action === "owner.write") {
      const role = action === "owner.write" ? "owner" : "collaborator";
      const who = `new${n}-${tag}@example.com`;
      await op((at) => addMember({ project: "a", user: who, role, sshKeys: [], owner: null }, login, at));
      await op((at) => removeMember("a", who, login, at));
    }
    return "allowed";
  } catch (e) {
    const err = e as { code?: string; message: string };
    // Refusals: row-level security or privileges (42501), a checked function (BM011 and the
    // store's AccessDenied), or rows the login may not see or change (not found, no change).
    if (
      ["42501", "BM011", "AccessDenied", "hidden", "MemberNotFound", "ProjectNotFound"].includes(
        err.code ?? "",
      )
    )
      return "denied";
    throw e;
  } finally {
    await store.close();
  }
}

test("the database's own matrix: every role and a stranger against every action, with no provider check", async () => {
  aReservation = (await blockInA(admin, "test")).id;
  const logins: [Role | "stranger", string][] = [
    ["owner", USERS.alice],
    ["admin", USERS.adam],
    ["collaborator", USERS.carol],
    ["read_only", USERS.rita],
    ["stranger", USERS.bob],
  ];
  let n = 0;
  const got: string[] = [];
  const want: string[] = [];
  for (const [role, login] of logins)
    for (const action of ACTIONS) {
      got.push(`${role} ${action}: ${await storeAttempt(login, action, ++n)}`);
      want.push(`${role} ${action}: ${role !== "stranger" && can(role, action) ? "allowed" : "denied"}`);
    }
  expect(got).toEqual(want);
});

test("a reader reads A and changes nothing; the audit log is append-only even for an owner", async () => {
  const rita = await as(USERS.rita);
  expect(await outcome(rita, "SELECT * FROM projects")).toBe("1 rows");
  expect(await outcome(rita, "UPDATE reservations SET description = 'x' WHERE project = 'a'")).toBe("0 rows");
  expect(
    await outcome(rita, "UPDATE project_members SET role = 'owner' WHERE user_email = $1", [USERS.rita]),
  ).toBe("0 rows");
  const alice = await as(USERS.alice);
  expect(await outcome(alice, "UPDATE audit SET actor = 'nobody'")).toMatch(
    /^refused 42501: permission denied/,
  );
  expect(await outcome(alice, "DELETE FROM audit")).toMatch(/^refused 42501: permission denied/);
  // Anyone may log in its own name, but not backdate: the database's clock says when.
  await rita.query(
    `INSERT INTO audit (at, actor, project, owner, resource, action, commands)
     VALUES ('2020-01-01T00:00:00Z', session_user, NULL, NULL, 'Server:forged', 'delete', '[]')`,
  );
  const owner = new Client({ connectionString: location });
  await owner.connect();
  clients.push(owner);
  const forged = await owner.query("SELECT at FROM audit WHERE resource = 'Server:forged'");
  expect(Date.now() - new Date(forged.rows[0].at as string).getTime()).toBeLessThan(60_000);
  // The last owner stays, even against raw SQL from the owner herself.
  expect(await outcome(alice, "DELETE FROM project_members WHERE user_email = $1", [USERS.alice])).toBe(
    "refused BM010: LastOwner",
  );
});

test("a member's temporary tables shadow nothing the database's checks read", async () => {
  // A session's temporary schema comes first in its search path unless a function pins it
  // last: shadowing project_members or pg_roles there made rita an owner or an operator.
  const rita = await as(USERS.rita);
  await rita.query("CREATE TEMP TABLE project_members (project text, user_email text, role text)");
  await rita.query(
    "INSERT INTO project_members SELECT p, session_user, 'owner' FROM unnest(ARRAY['a','b']) p",
  );
  await rita.query("GRANT SELECT ON project_members TO PUBLIC");
  await rita.query("CREATE TEMP TABLE pg_roles (rolname name, rolsuper boolean, rolcreaterole boolean)");
  await rita.query("INSERT INTO pg_roles VALUES (session_user, true, true)");
  await rita.query("GRANT SELECT ON pg_roles TO PUBLIC");
  const one = async (sql: string) => (await rita.query(sql)).rows[0] as Record<string, unknown>;
  expect(await one("SELECT bm_can('b', 'owner') AS can")).toEqual({ can: false });
  expect(await one("SELECT bm_can('a', 'collaborator') AS can")).toEqual({ can: false });
  expect(await one("SELECT bm_is_operator() AS op")).toEqual({ op: false });
  expect(await outcome(rita, "UPDATE public.servers SET hostname = hostname")).toBe("0 rows");
  expect(
    await outcome(
      rita,
      `INSERT INTO public.project_members (project, user_email, role, ssh_keys, created_by, created_at, updated_at)
       VALUES ('b', session_user, 'owner', '[]', session_user, now(), now())`,
    ),
  ).toMatch(/^refused/);
  expect(
    await outcome(
      rita,
      "SELECT * FROM bm_allocate(gen_random_uuid(), 'b', 'private_ipv4', 'lab1', 29, NULL, '[]', NULL, NULL, 'x')",
    ),
  ).toMatch(/^refused/);
  await rita.query("DROP TABLE pg_temp.project_members, pg_temp.pg_roles");
  // Nor can she put an operator of her own in public, which the checks' = would find first
  // (PostgreSQL before 15 let anyone create there).
  expect(
    await outcome(
      rita,
      "CREATE FUNCTION public.yes(text, name) RETURNS boolean LANGUAGE sql AS 'SELECT true'",
    ),
  ).toMatch(/^refused 42501: permission denied for schema public/);
});

test("through the provider, a login acts as itself: its own project works, another is refused", async () => {
  // baremetal:actor says alice; the database knows the login is carol, and carol it is.
  configure((k) => ({ "baremetal:store": urlFor(USERS.carol), "baremetal:actor": USERS.alice })[k]);
  const r = await ipReservation.create({
    project: "a",
    type: "private_ipv4",
    facility: "lab1",
    prefixLength: 30,
    tags: [],
    owner: "org/a/s/vips",
  } as ipReservation.IpReservationInputs);
  expect(r.outs.cidr).toMatch(/^10\.10\./);
  const entries = await admin.transact(() => readAudit({ project: "a" }), "read");
  expect(entries.map((e) => [e.actor, e.action, e.stage, e.owner])).toEqual([
    ["test", "create", "finished", null], // the project itself
    [USERS.carol, "create", "started", "org/a/s/vips"],
    [USERS.carol, "create", "finished", "org/a/s/vips"],
  ]);
  const refused = (await ipReservation
    .create({
      project: "b",
      type: "private_ipv4",
      facility: "lab1",
      prefixLength: 30,
      tags: [],
    } as ipReservation.IpReservationInputs)
    .catch((e: AccessError) => e)) as AccessError;
  expect(refused).toBeInstanceOf(AccessError);
  // To carol, project B does not even show.
  expect(refused.code).toBe("ProjectNotFound");
  expect(refused.message).toContain(`project: b does not exist, or ${USERS.carol} is not a member`);
  // The refusal is logged in carol's name, without the project (B's members are not shown what
  // a stranger wrote), for operators to see.
  const all = await admin.transact(() => readAudit({}), "read");
  expect(all.filter((e) => e.actor === USERS.carol && e.project === null)).toEqual([
    expect.objectContaining({
      action: "create",
      stage: "finished",
      after: { refused: `ProjectNotFound: ${refused.message}`, project: "b" },
    }),
  ]);
  await ipReservation.remove(r.id, r.outs);
});

test("a member's login holds a switch, and keeps an operator's connection out meanwhile", async () => {
  const carol = await openStore(urlFor(USERS.carol));
  try {
    await carol.hold("switch tor1", 1000, async () => {
      expect(
        (
          await failure(
            admin.hold("switch tor1", 100, async () => "in"),
            HoldTimeout,
          )
        ).code,
      ).toBe("HoldTimeout");
    });
    expect(await admin.hold("switch tor1", 1000, async () => "in")).toBe("in");
  } finally {
    await carol.close();
  }
});

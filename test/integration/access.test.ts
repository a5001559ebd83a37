// Who may do what, on every backend: every role (and a stranger) against every action, through
// the resources' own create/read/update/delete as the engine calls them; the last owner; and
// the audit log each change leaves.
import { ACTIONS, ROLES, can, type Action, type Role } from "../../provider/access/roles";
import { AccessError } from "../../provider/access/errors";
import { applyInventoryFile } from "../../provider/inventory/apply";
import * as ipReservation from "../../provider/resources/ip-reservation";
import * as projectMember from "../../provider/resources/project-member";
import * as server from "../../provider/resources/server";
import * as vlan from "../../provider/resources/vlan";
import { closeStores, configure } from "../../provider/runtime";
import { listServers } from "../../provider/store/servers-sql";
import {
  addMember,
  appendAudit,
  createProject,
  memberKeys,
  readAudit,
  readMember,
  updateMember,
} from "../../provider/store/projects-sql";
import { openStore } from "../../provider/store/open";
import type { Store } from "../../provider/store/store";
import { backends } from "../helpers/backends";

jest.setTimeout(120_000);

// A facility with pools and a VLAN range but no switch: VLANs are the store's business here.
const INVENTORY = `
facilities:
  - code: f1
    vlans: { from: 100, to: 199 }
    provisioningVlan: 10
    pools:
      - { name: f1-private, type: private_ipv4, cidr: 10.20.0.0/16 }
plans: []
switches: []
machines: []
`;

const PEOPLE: Record<Role | "stranger", string> = {
  owner: "olive@example.com",
  admin: "adam@example.com",
  collaborator: "cora@example.com",
  read_only: "rita@example.com",
  stranger: "sam@example.com",
};
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDemoKeyDemoKeyDemoKeyDemoKeyDemoKeyDemo0 x@y";

describe.each(backends)("access on $name", (backend) => {
  let location: string;
  let cleanup: () => Promise<void>;
  let store: Store;
  let n = 0;

  const as = (user: string) =>
    configure((k) => ({ "baremetal:store": location, "baremetal:actor": user })[k]);

  /** Runs one action as `user` through the resources; resolves to "allowed" or the refusal's code. */
  async function attempt(user: string, action: Action): Promise<string> {
    // Something to read and change, made by the owner.
    as(PEOPLE.owner);
    const r = await ipReservation.create({
      project: "p1",
      type: "private_ipv4",
      facility: "f1",
      prefixLength: 30,
      tags: [],
      owner: `o/p/s/r${++n}`,
    } as ipReservation.IpReservationInputs);
    as(user);
    try {
      if (action === "read") await ipReservation.read(r.id, r.outs);
      if (action === "reservation.write")
        await ipReservation.update(r.id, r.outs, { ...r.outs, tags: ["x"] });
      // A Server's delete runs its guard, then finds no such server: nothing to install here.
      if (action === "server.write")
        await server.remove("no-such-server", {
          project: "p1",
          owner: `o/p/s/s${n}`,
        } as server.ServerOutputs);
      if (action === "vlan.write") {
        const v = await vlan.create({
          project: "p1",
          facility: "f1",
          tags: [],
          forceDelete: false,
          owner: `o/p/s/v${n}`,
        });
        await vlan.remove(v.id, v.outs);
      }
      if (action === "member.write" || action === "owner.write") {
        const role: Role = action === "owner.write" ? "owner" : "collaborator";
        const m = await projectMember.create({
          project: "p1",
          user: `new${n}@example.com`,
          role,
          sshKeys: [KEY],
          owner: `o/p/s/m${n}`,
        });
        await projectMember.remove(m.id, m.outs);
      }
      return "allowed";
    } catch (e) {
      if (e instanceof AccessError) return e.code;
      throw e;
    } finally {
      as(PEOPLE.owner);
      await ipReservation.remove(r.id, r.outs);
    }
  }

  beforeAll(async () => {
    const fresh = await backend.fresh();
    location = fresh.location;
    cleanup = fresh.cleanup;
    store = await openStore(location);
    await applyInventoryFile(store, INVENTORY, { prune: false, dryRun: false, actor: "test" });
    await store.transact(function* (at) {
      yield* createProject({ name: "p1", description: null, owner: PEOPLE.owner }, "test", at);
      for (const role of ["admin", "collaborator", "read_only"] as const)
        yield* addMember({ project: "p1", user: PEOPLE[role], role, sshKeys: [], owner: null }, "test", at);
    });
  });

  afterAll(async () => {
    await closeStores();
    await store.close();
    await cleanup();
  });

  test.each([...ROLES, "stranger" as const])("%s: every action", async (who) => {
    const got: Record<string, string> = {};
    for (const action of ACTIONS) {
      const want = who !== "stranger" && can(who, action) ? "allowed" : "AccessDenied";
      got[action] = await attempt(PEOPLE[who], action);
      expect(`${who} ${action}: ${got[action]}`).toBe(`${who} ${action}: ${want}`);
    }
  });

  test("a Server create is refused before anything is claimed, and the refusal is logged", async () => {
    for (const who of ["read_only", "stranger"] as const) {
      configure(
        (k) =>
          ({
            "baremetal:store": location,
            "baremetal:actor": PEOPLE[who],
            "baremetal:bootServerUrl": "http://127.0.0.1:9",
          })[k],
      );
      const e = (await server
        .create({
          project: "p1",
          facility: "f1",
          plan: "none",
          hostname: `h-${who}`,
          operatingSystem: "flatcar_stable",
          owner: `o/p/s/srv-${who}`,
        } as Parameters<typeof server.create>[0])
        .catch((x: Error) => x)) as AccessError;
      // The refusal itself, not a step's failure: the role check runs in the claim's transaction.
      expect(e).toBeInstanceOf(AccessError);
      expect(e.code).toBe("AccessDenied");
    }
    as(PEOPLE.owner);
    expect(await store.transact(() => listServers("p1"), "read")).toEqual([]);
    const log = (await store.transact(() => readAudit({ project: "p1" }), "read")).filter((x) =>
      x.owner?.startsWith("o/p/s/srv-"),
    );
    // Nothing started; the refusals are logged, a stranger's too (a stranger's own PostgreSQL
    // login writes it without the project: access-postgres.test.ts).
    expect(log.filter((x) => x.stage === "started")).toEqual([]);
    const refusals = (owner: string) =>
      log.filter((x) => x.owner === owner).map((x) => (x.after as { refused?: string }).refused);
    expect(refusals("o/p/s/srv-read_only")).toEqual([expect.stringMatching(/^AccessDenied: /)]);
    expect(refusals("o/p/s/srv-stranger")).toEqual([expect.stringMatching(/^AccessDenied: /)]);
  });

  test("a new server gets the keys of members who may change servers, not a reader's", async () => {
    const key = (n: number) => KEY.replace("Demo0", `Demo${n}`);
    await store.transact(function* (at) {
      yield* createProject(
        { name: "keys", description: null, owner: PEOPLE.owner, sshKeys: [key(1)] },
        "test",
        at,
      );
      yield* addMember(
        { project: "keys", user: PEOPLE.collaborator, role: "collaborator", sshKeys: [key(2)], owner: null },
        "test",
        at,
      );
      yield* addMember(
        { project: "keys", user: PEOPLE.read_only, role: "read_only", sshKeys: [key(3)], owner: null },
        "test",
        at,
      );
    });
    expect((await store.transact(() => memberKeys("keys"), "read")).sort()).toEqual([key(1), key(2)]);
  });

  test("a refused change is in the audit log, with who asked and why", async () => {
    as(PEOPLE.read_only);
    const e = await vlan
      .create({ project: "p1", facility: "f1", tags: [], forceDelete: false, owner: "o/p/s/refused" })
      .catch((x: AccessError) => x);
    expect((e as AccessError).code).toBe("AccessDenied");
    as(PEOPLE.owner);
    const log = await store.transact(() => readAudit({ project: "p1" }), "read");
    expect(log.at(-1)).toMatchObject({
      actor: PEOPLE.read_only,
      resource: "Vlan:(none)",
      action: "create",
      stage: "finished",
      owner: "o/p/s/refused",
      after: { refused: `AccessDenied: ${(e as AccessError).message}` },
    });
  });

  test("an unknown project is refused with how to create it", async () => {
    as(PEOPLE.owner);
    const e = await ipReservation
      .create({
        project: "nope",
        type: "private_ipv4",
        facility: "f1",
        prefixLength: 30,
        tags: [],
      } as ipReservation.IpReservationInputs)
      .catch((x: AccessError) => x);
    expect(e).toBeInstanceOf(AccessError);
    expect((e as AccessError).message).toBe(
      "project: nope does not exist, or olive@example.com is not a member; an operator creates projects with `baremetal project create nope --owner <email>`",
    );
  });

  test("the refusal names the actor, the role needed and the role held", async () => {
    as(PEOPLE.read_only);
    const e = (await vlan
      .create({ project: "p1", facility: "f1", tags: [], forceDelete: false })
      .catch((x: AccessError) => x)) as AccessError;
    expect(e.message).toBe(
      "rita@example.com may not change VLANs in project p1: that needs the collaborator role or higher, and rita@example.com is read_only",
    );
  });

  test("the last owner can be neither removed nor demoted; a role change applies in place", async () => {
    as(PEOPLE.owner);
    const second = await projectMember.create({
      project: "p1",
      user: "otto@example.com",
      role: "owner",
      sshKeys: [],
      owner: "o/p/s/otto",
    });
    // The same mailbox spelled otherwise is the same person, not a second row with another role.
    const twice = (await projectMember
      .create({ project: "p1", user: "Otto@Example.com", role: "admin", sshKeys: [], owner: "o/p/s/otto2" })
      .catch((x: AccessError) => x)) as AccessError;
    expect([twice.code, twice.message]).toEqual([
      "MemberExists",
      "user: Otto@Example.com is already owner of project p1 as otto@example.com (addresses differing only in case are one person): use that spelling",
    ]);
    const demoted = await projectMember.update(second.id, second.outs, { ...second.outs, role: "admin" });
    expect(demoted.outs.role).toBe("admin");
    // olive is the only owner again: she cannot step down, through a resource or otherwise.
    const olive = {
      project: "p1",
      user: PEOPLE.owner,
      role: "owner" as const,
      sshKeys: [],
      owner: "o/p/s/olive",
      since: "",
    };
    const last = (await projectMember
      .update("p1/olive", olive, { ...olive, role: "admin" })
      .catch((x: AccessError) => x)) as AccessError;
    expect(last.code).toBe("LastOwner");
    expect(last.message).toBe("project p1 would have no owner left: make another member owner first");
    const gone = (await projectMember.remove("p1/olive", olive).catch((x: AccessError) => x)) as AccessError;
    expect(gone.code).toBe("LastOwner");
    await projectMember.remove(second.id, demoted.outs);
  });

  test("a member change is judged by the role in the store, not the one the state remembers", async () => {
    // An admin's stack made otto a collaborator; an owner has since made him owner.
    as(PEOPLE.admin);
    const made = await projectMember.create({
      project: "p1",
      user: "otto2@example.com",
      role: "collaborator",
      sshKeys: [],
      owner: "o/p/s/otto2",
    });
    await store.transact(function* (at) {
      yield* updateMember("p1", "otto2@example.com", { role: "owner", sshKeys: [] }, PEOPLE.owner, at);
    });
    // The admin's stale state says collaborator: neither a demotion nor a removal gets through.
    const demote = (await projectMember
      .update(made.id, made.outs, { ...made.outs, role: "read_only" })
      .catch((x: AccessError) => x)) as AccessError;
    expect(demote.code).toBe("AccessDenied");
    expect(demote.message).toBe(
      "adam@example.com may not change owners in project p1: that needs the owner role or higher, and adam@example.com is admin",
    );
    const remove = (await projectMember
      .remove(made.id, made.outs)
      .catch((x: AccessError) => x)) as AccessError;
    expect(remove.code).toBe("AccessDenied");
    const row = await store.transact(() => readMember("p1", "otto2@example.com"), "read");
    expect(row?.role).toBe("owner");
    // An owner can.
    as(PEOPLE.owner);
    await projectMember.remove(made.id, made.outs);
    expect(await store.transact(() => readMember("p1", "otto2@example.com"), "read")).toBeUndefined();
  });

  test("a change whose started entry cannot be written is refused before it touches anything", async () => {
    const sqlite = backend.name === "sqlite";
    const exec = (sqls: string[]) =>
      store.transact(function* () {
        for (const sql of sqls) yield { sql, params: [] };
      });
    // The log refuses started entries (a full disk, a lost grant): finished ones still go in.
    await exec(
      sqlite
        ? [
            `CREATE TRIGGER audit_down BEFORE INSERT ON audit WHEN NEW.stage = 'started'
             BEGIN SELECT RAISE(ABORT, 'audit log unavailable'); END`,
          ]
        : [
            `CREATE FUNCTION audit_down() RETURNS trigger LANGUAGE plpgsql
             AS $$ BEGIN RAISE EXCEPTION 'audit log unavailable'; END $$`,
            `CREATE TRIGGER audit_down BEFORE INSERT ON audit FOR EACH ROW
             WHEN (NEW.stage = 'started') EXECUTE FUNCTION audit_down()`,
          ],
    );
    try {
      as(PEOPLE.owner);
      const e = (await ipReservation
        .create({
          project: "p1",
          type: "private_ipv4",
          facility: "f1",
          prefixLength: 30,
          tags: [],
          owner: "o/p/s/unaudited",
        } as ipReservation.IpReservationInputs)
        .catch((x: Error) => x)) as Error;
      expect(e.message).toMatch(/audit log unavailable/);
    } finally {
      await exec(
        sqlite
          ? ["DROP TRIGGER audit_down"]
          : ["DROP TRIGGER audit_down ON audit", "DROP FUNCTION audit_down()"],
      );
    }
    const all = await store.listReservations({ project: "p1" });
    expect(all.filter((r) => r.owner === "o/p/s/unaudited")).toEqual([]);
    const log = await store.transact(() => readAudit({ project: "p1" }), "read");
    expect(log.filter((x) => x.owner === "o/p/s/unaudited")).toEqual([]);
  });

  test("every change is in the audit log with actor, owner key, before and after", async () => {
    as(PEOPLE.collaborator);
    const r = await ipReservation.create({
      project: "p1",
      type: "private_ipv4",
      facility: "f1",
      prefixLength: 30,
      tags: [],
      owner: "org/proj/stack/vips",
    } as ipReservation.IpReservationInputs);
    await ipReservation.update(r.id, r.outs, { ...r.outs, tags: ["web"] });
    await ipReservation.remove(r.id, { ...r.outs, tags: ["web"] });
    const log = (await store.transact(() => readAudit({ project: "p1" }), "read")).filter(
      (e) => e.owner === "org/proj/stack/vips",
    );
    // Each change twice: started before anything was touched (a create has no id yet), then
    // finished with the result.
    expect(log.map((e) => [e.actor, e.action, e.stage, e.resource])).toEqual([
      ["cora@example.com", "create", "started", "IpReservation:(none)"],
      ["cora@example.com", "create", "finished", `IpReservation:${r.id}`],
      ["cora@example.com", "update", "started", `IpReservation:${r.id}`],
      ["cora@example.com", "update", "finished", `IpReservation:${r.id}`],
      ["cora@example.com", "delete", "started", `IpReservation:${r.id}`],
      ["cora@example.com", "delete", "finished", `IpReservation:${r.id}`],
    ]);
    expect((log[2]!.before as { tags: string[] }).tags).toEqual([]);
    expect(log[2]!.after).toBeNull();
    expect((log[3]!.after as { tags: string[] }).tags).toEqual(["web"]);
    expect(log[5]!.after).toBeNull();
    const m = await projectMember
      .create({
        project: "p1",
        user: "pat@example.com",
        role: "read_only",
        sshKeys: [KEY],
        owner: "o/p/s/pat",
      })
      .catch((x: AccessError) => x);
    expect((m as AccessError).code).toBe("AccessDenied"); // a collaborator adds no members
  });

  test("reading the audit log: by project and time, the newest entries when it is long, in order", async () => {
    const entry = (project: string, at: string, resource: string) =>
      appendAudit({
        at,
        actor: "auditor@example.com",
        project,
        owner: null,
        resource,
        action: "update",
        stage: "finished",
        before: null,
        after: null,
        commands: ["ssh switch: bridge vlan add dev swp1 vid 100"],
      });
    await store.transact(function* () {
      yield* createProject(
        { name: "logged", description: null, owner: PEOPLE.owner },
        "test",
        "2026-01-01T00:00:00.000Z",
      );
      for (let i = 0; i < 5; i++) yield* entry("logged", `2026-01-0${i + 1}T12:00:00.000Z`, `Vlan:v${i}`);
      yield* entry("other", "2026-01-03T13:00:00.000Z", "Vlan:elsewhere");
    });
    const read = (f: { project?: string; since?: string; limit?: number }) =>
      store.transact(() => readAudit(f), "read").then((es) => es.map((e) => e.resource));
    expect(await read({ project: "logged" })).toEqual([
      "Project:logged",
      "Vlan:v0",
      "Vlan:v1",
      "Vlan:v2",
      "Vlan:v3",
      "Vlan:v4",
    ]);
    expect(await read({ project: "logged", since: "2026-01-03T00:00:00.000Z" })).toEqual([
      "Vlan:v2",
      "Vlan:v3",
      "Vlan:v4",
    ]);
    // A long log is cut from the old end: the newest entries stay, oldest first.
    expect(await read({ project: "logged", limit: 2 })).toEqual(["Vlan:v3", "Vlan:v4"]);
    const one = (await store.transact(() => readAudit({ project: "logged", limit: 1 }), "read"))[0]!;
    expect(one).toMatchObject({
      actor: "auditor@example.com",
      commands: ["ssh switch: bridge vlan add dev swp1 vid 100"],
    });
  });
});

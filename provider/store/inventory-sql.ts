// The inventory's reads and writes, written once for both backends. Each operation is a
// generator that yields SQL (with ? placeholders) and receives the result, so SQLite runs it
// synchronously inside one IMMEDIATE transaction and PostgreSQL asynchronously inside one
// BEGIN/COMMIT, and the logic is the same text.
import { AccessError } from "../access/errors";
import { InventoryConflict } from "../inventory/errors";
import type {
  FacilitySpec,
  InventoryChange,
  InventoryState,
  MachineRecord,
  MachineSpec,
  MachineState,
  PlanSpec,
  SwitchSpec,
} from "../inventory/types";

export interface Query {
  sql: string;
  params: unknown[];
}
export interface QueryResult {
  rows: Record<string, unknown>[];
  /** Rows inserted, updated or deleted. */
  changes: number;
}
export type Op<T> = Generator<Query, T, QueryResult>;

const q = (sql: string, ...params: unknown[]): Query => ({ sql, params });

/**
 * `WHERE` over the filters that are set (`column = ?`, or `column >= ?` for a column given as
 * `"column >="`); PostgreSQL cannot type a bare `? IS NULL`, so unset filters are left out.
 */
export function where(filters: [column: string, value: unknown][]): { sql: string; params: unknown[] } {
  const set = filters.filter(([, v]) => v !== undefined);
  return {
    sql: set.length
      ? `WHERE ${set.map(([c]) => (/[<>=]$/.test(c) ? `${c} ?` : `${c} = ?`)).join(" AND ")}`
      : "",
    params: set.map(([, v]) => v),
  };
}
const json = (v: unknown) => (typeof v === "string" ? (JSON.parse(v) as unknown) : v);
const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : String(v));

/** Machines in these states hold nothing and can be edited, moved or removed. */
const IDLE: MachineState[] = ["available", "maintenance", "quarantine"];

/** A machine's NICs as cabled: name, MAC, switch and port, in a stable order. */
const cabling = (nics: MachineSpec["nics"]) =>
  JSON.stringify(
    nics.map((n) => [n.name, n.mac, n.switch, n.port]).sort((a, b) => a.join().localeCompare(b.join())),
  );

interface MachineRow {
  id: string;
  facility: string;
  plan: string;
  serial: string;
  spec: unknown;
  state: MachineState;
  state_reason: string | null;
  owner: string | null;
  updated_at: unknown;
}

function toMachine(r: MachineRow): MachineRecord {
  const spec = json(r.spec) as Pick<MachineSpec, "bmc" | "nics" | "rack">;
  return {
    id: r.id,
    facility: r.facility,
    plan: r.plan,
    serial: r.serial,
    ...(spec.rack ? { rack: spec.rack } : {}),
    bmc: spec.bmc,
    nics: spec.nics,
    state: r.state,
    stateReason: r.state_reason,
    owner: r.owner,
    updatedAt: iso(r.updated_at),
  };
}

const FACILITY_COLUMNS = "code, name, vlan_from, vlan_to, provisioning_vlan, layer3_vlan";

const toFacility = (r: Record<string, unknown>): FacilitySpec => ({
  code: String(r.code),
  ...(r.name === null ? {} : { name: String(r.name) }),
  vlans: { from: Number(r.vlan_from), to: Number(r.vlan_to) },
  provisioningVlan: Number(r.provisioning_vlan),
  ...(r.layer3_vlan === null || r.layer3_vlan === undefined ? {} : { layer3Vlan: Number(r.layer3_vlan) }),
});

export function* readInventory(): Op<InventoryState> {
  const facilities = (yield q(
    `SELECT ${FACILITY_COLUMNS} FROM facilities WHERE vlan_from IS NOT NULL ORDER BY code`,
  )).rows.map(toFacility);
  const plans = (yield q("SELECT spec FROM plans ORDER BY name")).rows.map((r) => json(r.spec) as PlanSpec);
  const switches = (yield q("SELECT spec FROM switches ORDER BY name")).rows.map(
    (r) => json(r.spec) as SwitchSpec,
  );
  const machines = (yield q("SELECT * FROM machines ORDER BY id")).rows.map((r) =>
    toMachine(r as unknown as MachineRow),
  );
  return { facilities, plans, switches, machines };
}

export function* readMachine(id: string): Op<MachineRecord | undefined> {
  const { rows } = yield q("SELECT * FROM machines WHERE id = ?", id);
  return rows[0] && toMachine(rows[0] as unknown as MachineRow);
}

export function* event(
  actor: string,
  action: string,
  subject: string,
  detail: unknown,
  at: string,
): Op<void> {
  yield q(
    "INSERT INTO events (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)",
    at,
    actor,
    action,
    subject,
    JSON.stringify(detail),
  );
}

function* putNics(m: MachineSpec): Op<void> {
  yield q("DELETE FROM machine_nics WHERE machine_id = ?", m.id);
  for (const n of m.nics) {
    // Another machine already on this MAC or switch port: the unique keys refuse it; say which.
    const { rows } = yield q(
      "SELECT machine_id, mac, switch, port FROM machine_nics WHERE mac = ? OR (switch = ? AND port = ?)",
      n.mac,
      n.switch,
      n.port,
    );
    if (rows[0]) {
      const r = rows[0];
      const what = r.mac === n.mac ? `MAC ${n.mac}` : `switch port ${n.switch}:${n.port}`;
      throw new InventoryConflict(
        "DuplicateHardware",
        `machine ${m.id}: ${what} already belongs to machine ${String(r.machine_id)}`,
      );
    }
    yield q(
      "INSERT INTO machine_nics (mac, machine_id, name, switch, port) VALUES (?, ?, ?, ?, ?)",
      n.mac,
      m.id,
      n.name,
      n.switch,
      n.port,
    );
  }
}

export function* applyInventory(changes: InventoryChange[], actor: string, at: string): Op<void> {
  for (const c of changes) {
    switch (c.kind) {
      case "facility": {
        const f = c.spec;
        // Projects' VLANs stay inside the range, and none may become the provisioning VLAN:
        // every install in the facility would netboot on that project's network.
        const { rows: held } = yield q(
          "SELECT vid, project FROM vlans WHERE facility = ? AND (vid < ? OR vid > ? OR vid = ?) ORDER BY vid",
          f.code,
          f.vlans.from,
          f.vlans.to,
          f.provisioningVlan,
        );
        if (held.length) {
          throw new InventoryConflict(
            "FacilityInUse",
            `facility ${f.code}: vlans ${f.vlans.from}-${f.vlans.to} with provisioningVlan ${f.provisioningVlan} ` +
              `would leave out or take VLANs projects hold: ${held.map((r) => `${String(r.vid)} (project ${String(r.project)})`).join(", ")}; ` +
              "delete those Vlans first, or keep them in the range",
          );
        }
        const { rows: was } = yield q(
          "SELECT provisioning_vlan, layer3_vlan FROM facilities WHERE code = ?",
          f.code,
        );
        const vlan = (v: unknown) => (v === null || v === undefined ? undefined : Number(v));
        // Servers' ports sit on the provisioning VLAN while they install or wipe (and all their
        // life on a facility without a layer-3 VLAN): moving it under them splits the network.
        const before = vlan(was[0]?.provisioning_vlan);
        if (before !== undefined && before !== f.provisioningVlan) {
          const { rows: busy } = yield q(
            "SELECT id, state FROM machines WHERE facility = ? AND state IN ('provisioning', 'active', 'deprovisioning') ORDER BY id",
            f.code,
          );
          if (busy.length) {
            throw new InventoryConflict(
              "FacilityInUse",
              `facility ${f.code}: provisioningVlan ${before} -> ${f.provisioningVlan} while servers use it, on ` +
                `${someMachines(busy)}: their ports would stay on the old VLAN; delete those servers first, or keep the VLAN`,
            );
          }
        }
        // Layer3 and hybrid servers' ports sit on the layer-3 network: moving it (or giving it a
        // VLAN of its own, or taking that away) under them splits the facility's network.
        const l3Before = vlan(was[0]?.layer3_vlan);
        if (was[0] && l3Before !== f.layer3Vlan) {
          const { rows: servers } = yield q(
            "SELECT machine_id AS id, state, spec FROM servers WHERE facility = ? ORDER BY machine_id",
            f.code,
          );
          const onIt = servers.filter(
            (r) => (json(r.spec) as { networkType?: string }).networkType !== "layer2",
          );
          if (onIt.length) {
            throw new InventoryConflict(
              "FacilityInUse",
              `facility ${f.code}: layer3Vlan ${l3Before ?? "none"} -> ${f.layer3Vlan ?? "none"} while layer3 or ` +
                `hybrid servers use it, on ${someMachines(onIt)}: their ports would stay on the old network; ` +
                "delete those servers first, or keep it",
            );
          }
        }
        yield q(
          `INSERT INTO facilities (code, name, vlan_from, vlan_to, provisioning_vlan, layer3_vlan, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (code) DO UPDATE SET name = excluded.name, vlan_from = excluded.vlan_from,
             vlan_to = excluded.vlan_to, provisioning_vlan = excluded.provisioning_vlan,
             layer3_vlan = excluded.layer3_vlan`,
          f.code,
          f.name ?? null,
          f.vlans.from,
          f.vlans.to,
          f.provisioningVlan,
          f.layer3Vlan ?? null,
          at,
        );
        yield* event(actor, `facility.${c.op}`, f.code, f, at);
        break;
      }
      case "plan": {
        if (c.op === "remove") {
          const { rows } = yield q("SELECT id FROM machines WHERE plan = ? ORDER BY id", c.name);
          if (rows.length) {
            throw new InventoryConflict(
              "PlanInUse",
              `plan ${c.name}: machines ${rows.map((r) => r.id).join(", ")} still have it`,
            );
          }
          yield q("DELETE FROM plans WHERE name = ?", c.name);
          yield* event(actor, "plan.remove", c.name, null, at);
          break;
        }
        yield q(
          `INSERT INTO plans (name, spec, updated_at) VALUES (?, ?, ?)
           ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at`,
          c.spec.name,
          JSON.stringify(c.spec),
          at,
        );
        yield* event(actor, `plan.${c.op}`, c.spec.name, c.spec, at);
        break;
      }
      case "switch": {
        if (c.op === "remove") {
          const { rows } = yield q(
            "SELECT DISTINCT machine_id FROM machine_nics WHERE switch = ? ORDER BY machine_id",
            c.name,
          );
          if (rows.length) {
            throw new InventoryConflict(
              "SwitchInUse",
              `switch ${c.name}: machines ${rows.map((r) => r.machine_id).join(", ")} are cabled to it`,
            );
          }
          yield q("DELETE FROM switches WHERE name = ?", c.name);
          yield* event(actor, "switch.remove", c.name, null, at);
          break;
        }
        yield q(
          `INSERT INTO switches (name, facility, spec, updated_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (name) DO UPDATE SET facility = excluded.facility, spec = excluded.spec, updated_at = excluded.updated_at`,
          c.spec.name,
          c.spec.facility,
          JSON.stringify(c.spec),
          at,
        );
        yield* event(actor, `switch.${c.op}`, c.spec.name, c.spec, at);
        break;
      }
      case "machine": {
        const id = c.op === "remove" ? c.id : c.spec.id;
        const current = yield* readMachine(id);
        if (c.op === "remove") {
          if (current && !IDLE.includes(current.state)) {
            throw new InventoryConflict(
              "MachineInUse",
              `machine ${id} is ${current.state}${current.owner ? ` (held by ${current.owner})` : ""}; it can be removed once it is available, in maintenance or quarantined`,
            );
          }
          // Removed, its ports would keep the tenant's VLAN with the records naming a machine
          // no longer there, and the Vlan's delete refused for it (a quarantine keeps them).
          const ports = yield* vlanCarryingPorts(id);
          if (ports) {
            throw new InventoryConflict(
              "MachineInUse",
              `machine ${id}: ${ports} carry a VLAN; it can be removed once they do not (deleting the server that put it there, or the Vlan with forceDelete, resets them)`,
            );
          }
          yield q("DELETE FROM machine_nics WHERE machine_id = ?", id);
          yield q("DELETE FROM machines WHERE id = ?", id);
          yield* event(actor, "machine.remove", id, null, at);
          break;
        }
        const m = c.spec;
        // The unique key would refuse it too, without naming either machine.
        const { rows: sameSerial } = yield q(
          "SELECT id FROM machines WHERE serial = ? AND id <> ?",
          m.serial,
          id,
        );
        if (sameSerial[0]) {
          throw new InventoryConflict(
            "DuplicateHardware",
            `machine ${id}: serial ${m.serial} already belongs to machine ${String(sameSerial[0].id)}`,
          );
        }
        const spec = JSON.stringify({ bmc: m.bmc, nics: m.nics, ...(m.rack ? { rack: m.rack } : {}) });
        if (current) {
          const moved = current.facility !== m.facility || current.plan !== m.plan;
          if (moved && !IDLE.includes(current.state)) {
            throw new InventoryConflict(
              "MachineInUse",
              `machine ${id} is ${current.state}; its facility and plan can change once it is available or in maintenance`,
            );
          }
          // The ports a server's VLANs were put on are found again through the machine's NICs:
          // recabled under a server, its old port would stay on the tenant's VLAN, unrecorded.
          if (cabling(current.nics) !== cabling(m.nics)) {
            const ports = yield* vlanCarryingPorts(id);
            if (!IDLE.includes(current.state) || ports) {
              throw new InventoryConflict(
                "MachineInUse",
                `machine ${id}: its NICs (MAC, switch, port) can change once it is available or in maintenance with no VLAN on its ports; it is ${current.state}${ports ? `, and ${ports} carry a VLAN` : ""}`,
              );
            }
          }
          yield q(
            "UPDATE machines SET facility = ?, plan = ?, serial = ?, spec = ?, updated_at = ? WHERE id = ?",
            m.facility,
            m.plan,
            m.serial,
            spec,
            at,
            id,
          );
        } else {
          yield q(
            "INSERT INTO machines (id, facility, plan, serial, spec, state, updated_at) VALUES (?, ?, ?, ?, ?, 'available', ?)",
            id,
            m.facility,
            m.plan,
            m.serial,
            spec,
            at,
          );
        }
        yield* putNics(m);
        yield* event(
          actor,
          `machine.${c.op}`,
          id,
          { facility: m.facility, plan: m.plan, serial: m.serial },
          at,
        );
        break;
      }
    }
  }
}

/** "r1-02 (active), r1-03 (provisioning)": the first ten machines of rows, and how many more. */
function someMachines(rows: Record<string, unknown>[]): string {
  const shown = rows.slice(0, 10).map((r) => `${String(r.id)} (${String(r.state)})`);
  return `${shown.join(", ")}${rows.length > 10 ? ` and ${rows.length - 10} more` : ""}`;
}

/** The machine's ports the store records on a VLAN, as "tor1 swp3, tor1 swp4"; "" for none. */
function* vlanCarryingPorts(id: string): Op<string> {
  const { rows } = yield q(
    "SELECT switch, port FROM vlan_ports WHERE machine_id = ? ORDER BY switch, port",
    id,
  );
  return rows.map((r) => `${String(r.switch)} ${String(r.port)}`).join(", ");
}

/** Moves a machine between states; refused unless it is in one of `from` now. */
export function* moveMachine(
  id: string,
  from: MachineState[],
  to: MachineState,
  reason: string | null,
  actor: string,
  at: string,
): Op<MachineRecord> {
  const current = yield* readMachine(id);
  if (!current) throw new InventoryConflict("MachineNotFound", `machine ${id} is not in the inventory`);
  if (!from.includes(current.state)) {
    throw new InventoryConflict(
      "MachineStateConflict",
      `machine ${id} is ${current.state}${current.owner ? ` (held by ${current.owner})` : ""}; this needs it to be ${from.join(" or ")}`,
    );
  }
  const { changes } = yield q(
    `UPDATE machines SET state = ?, state_reason = ?, updated_at = ?
     WHERE id = ? AND state = ?`,
    to,
    reason,
    at,
    id,
    current.state,
  );
  if (changes !== 1) {
    // Unchanged and still there: the database's row security kept this login's UPDATE from it
    // (PostgreSQL), not a race.
    if ((yield* readMachine(id))?.state === current.state) {
      throw new AccessError(
        "AccessDenied",
        `machine ${id}: this login may not move it to ${to}; machines are the operators' (a member's project changes one only through its server)`,
      );
    }
    throw new InventoryConflict("MachineStateConflict", `machine ${id} changed state meanwhile; try again`);
  }
  yield* event(actor, `machine.${to}`, id, { from: current.state, reason }, at);
  return (yield* readMachine(id))!;
}

export function* readFacility(code: string): Op<FacilitySpec | undefined> {
  const { rows } = yield q(`SELECT ${FACILITY_COLUMNS} FROM facilities WHERE code = ?`, code);
  const r = rows[0];
  if (!r || r.vlan_from === null) return undefined;
  return toFacility(r);
}

export function* facilitySwitches(facility: string): Op<SwitchSpec[]> {
  const { rows } = yield q("SELECT spec FROM switches WHERE facility = ? ORDER BY name", facility);
  return rows.map((r) => json(r.spec) as SwitchSpec);
}

export function* readPlan(name: string): Op<PlanSpec | undefined> {
  const { rows } = yield q("SELECT spec FROM plans WHERE name = ?", name);
  return rows[0] && (json(rows[0].spec) as PlanSpec);
}

export function* readSwitch(name: string): Op<SwitchSpec | undefined> {
  const { rows } = yield q("SELECT spec FROM switches WHERE name = ?", name);
  return rows[0] && (json(rows[0].spec) as SwitchSpec);
}

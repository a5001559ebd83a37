// VLANs and the switch ports that carry them, written once for both backends (see
// inventory-sql.ts for how the generators run). A VLAN id is taken with INSERT ... ON CONFLICT
// DO NOTHING against the (facility, vid) unique key, so two runs asking at once can never both
// get it: the loser sees no row inserted and tries the next free id.
import { VlanError } from "../vlans/errors";
import { event, readFacility, where, type Op, type Query } from "./inventory-sql";

export interface VlanRecord {
  id: string;
  owner: string | null;
  project: string;
  facility: string;
  vid: number;
  description: string | null;
  tags: string[];
  createdBy: string;
  createdAt: string;
  updatedAt: string;
}

export interface VlanPort {
  vlanId: string;
  vid: number;
  serverId: string;
  machineId: string;
  nic: string;
  switch: string;
  port: string;
  /** access: the port's only VLAN; native: untagged on a trunk; tagged: tagged on a trunk. */
  mode: "access" | "native" | "tagged";
}

export interface VlanRequest {
  id: string;
  owner: string | null;
  project: string;
  facility: string;
  /** An exact id; otherwise the lowest free one of the facility's range. */
  vid?: number;
  description: string | null;
  tags: string[];
}

const q = (sql: string, ...params: unknown[]): Query => ({ sql, params });
const json = (v: unknown) => (typeof v === "string" ? (JSON.parse(v) as unknown) : v);
const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : String(v));
// Each attempt re-reads the ids in use; only a run that keeps losing races would need more.
const ATTEMPTS = 16;

function toVlan(r: Record<string, unknown>): VlanRecord {
  return {
    id: String(r.id),
    owner: r.owner === null ? null : String(r.owner),
    project: String(r.project),
    facility: String(r.facility),
    vid: Number(r.vid),
    description: r.description === null ? null : String(r.description),
    tags: json(r.tags) as string[],
    createdBy: String(r.created_by),
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

function toPort(r: Record<string, unknown>): VlanPort {
  return {
    vlanId: String(r.vlan_id),
    vid: Number(r.vid),
    serverId: String(r.server_id),
    machineId: String(r.machine_id),
    nic: String(r.nic),
    switch: String(r.switch),
    port: String(r.port),
    mode: r.mode as VlanPort["mode"],
  };
}

export function* readVlan(id: string): Op<VlanRecord | undefined> {
  const { rows } = yield q("SELECT * FROM vlans WHERE id = ?", id);
  return rows[0] && toVlan(rows[0]);
}

export function* listVlans(filter: { project?: string; facility?: string } = {}): Op<VlanRecord[]> {
  const w = where([
    ["project", filter.project],
    ["facility", filter.facility],
  ]);
  const { rows } = yield q(`SELECT * FROM vlans ${w.sql} ORDER BY facility, vid`, ...w.params);
  return rows.map(toVlan);
}

/** The VLANs recorded under a resource's owner key (normally none or one). */
export function* vlansOfOwner(owner: string): Op<VlanRecord[]> {
  const { rows } = yield q("SELECT * FROM vlans WHERE owner = ? ORDER BY created_at", owner);
  return rows.map(toVlan);
}

/** Takes the asked id, or the lowest free one of the facility's range; adopts what an interrupted run of the same owner took. */
export function* createVlan(
  req: VlanRequest,
  actor: string,
  at: string,
): Op<{ vlan: VlanRecord; adopted: boolean }> {
  if (req.owner !== null) {
    const { rows } = yield q(
      "SELECT * FROM vlans WHERE owner = ? AND project = ? AND facility = ? ORDER BY created_at",
      req.owner,
      req.project,
      req.facility,
    );
    const prior = rows.map(toVlan).find((v) => req.vid === undefined || v.vid === req.vid);
    if (prior) return { vlan: prior, adopted: true };
  }
  // Not while an inventory apply changes the facility's range or provisioning VLAN: its check
  // would miss this VLAN, or this create the new range (PostgreSQL, migration 15).
  yield q("SELECT bm_inventory_hold() AS held");
  const facility = yield* readFacility(req.facility);
  if (!facility) {
    throw new VlanError(
      "FacilityNotFound",
      `facility: ${req.facility} is not in the inventory (or has no VLAN range)`,
    );
  }
  const { from, to } = facility.vlans;
  const reserved = facility.provisioningVlan;
  const insert = (vid: number) =>
    q(
      `INSERT INTO vlans (id, owner, project, facility, vid, description, tags, created_by, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (facility, vid) DO NOTHING`,
      req.id,
      req.owner,
      req.project,
      req.facility,
      vid,
      req.description,
      JSON.stringify(req.tags),
      actor,
      at,
      at,
    );

  let vid: number | undefined;
  if (req.vid !== undefined) {
    if (req.vid === reserved) {
      throw new VlanError(
        "VlanOutOfRange",
        `vid: ${req.vid} is facility ${req.facility}'s provisioning VLAN; choose one of ${from}-${to}`,
      );
    }
    if (req.vid < from || req.vid > to) {
      throw new VlanError(
        "VlanOutOfRange",
        `vid: ${req.vid} is outside facility ${req.facility}'s VLAN range ${from}-${to}`,
      );
    }
    if ((yield insert(req.vid)).changes !== 1) {
      throw new VlanError("VlanTaken", `vid: ${req.vid} is already in use in facility ${req.facility}`);
    }
    vid = req.vid;
  } else {
    // Ids another transaction took since we looked are skipped on the next look.
    const lost = new Set<number>();
    for (let attempt = 0; attempt < ATTEMPTS && vid === undefined; attempt++) {
      // vlan_ids: every project's ids (a PostgreSQL member sees only its own projects' vlans).
      const { rows } = yield q(
        "SELECT vid FROM vlan_ids WHERE facility = ? AND vid BETWEEN ? AND ? ORDER BY vid",
        req.facility,
        from,
        to,
      );
      const used = new Set([...rows.map((r) => Number(r.vid)), ...lost]);
      let free: number | undefined;
      for (let v = from; v <= to && free === undefined; v++) if (v !== reserved && !used.has(v)) free = v;
      if (free === undefined) {
        throw new VlanError(
          "NoVlanAvailable",
          `facility ${req.facility}: every VLAN id of its range ${from}-${to} is in use`,
        );
      }
      if ((yield insert(free)).changes === 1) vid = free;
      else lost.add(free);
    }
    if (vid === undefined) {
      throw new VlanError(
        "NoVlanAvailable",
        `facility ${req.facility}: lost the race for a VLAN id ${ATTEMPTS} times`,
      );
    }
  }
  yield* event(actor, "vlan.create", `vlan:${req.id}`, { vid, facility: req.facility, owner: req.owner }, at);
  return { vlan: (yield* readVlan(req.id))!, adopted: false };
}

export function* updateVlan(
  id: string,
  change: { description: string | null; tags: string[] },
  actor: string,
  at: string,
): Op<VlanRecord> {
  const { changes } = yield q(
    "UPDATE vlans SET description = ?, tags = ?, updated_at = ? WHERE id = ?",
    change.description,
    JSON.stringify(change.tags),
    at,
    id,
  );
  if (changes !== 1) throw new VlanError("VlanNotFound", `VLAN ${id} does not exist`);
  yield* event(actor, "vlan.update", `vlan:${id}`, change, at);
  return (yield* readVlan(id))!;
}

export function* vlanPorts(filter: { vlanId?: string; serverId?: string }): Op<VlanPort[]> {
  const w = where([
    ["p.vlan_id", filter.vlanId],
    ["p.server_id", filter.serverId],
  ]);
  const { rows } = yield q(
    `SELECT p.*, v.vid FROM vlan_ports p JOIN vlans v ON v.id = p.vlan_id ${w.sql} ORDER BY p.switch, p.port, v.vid`,
    ...w.params,
  );
  return rows.map(toPort);
}

export function* attachPort(p: Omit<VlanPort, "vid">, actor: string, at: string): Op<void> {
  yield q(
    `INSERT INTO vlan_ports (vlan_id, server_id, machine_id, nic, switch, port, mode, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (vlan_id, switch, port) DO UPDATE SET server_id = excluded.server_id,
       machine_id = excluded.machine_id, nic = excluded.nic, mode = excluded.mode`,
    p.vlanId,
    p.serverId,
    p.machineId,
    p.nic,
    p.switch,
    p.port,
    p.mode,
    at,
  );
  yield* event(
    actor,
    "vlan.attach",
    `vlan:${p.vlanId}`,
    { server: p.serverId, switch: p.switch, port: p.port, mode: p.mode },
    at,
  );
}

export function* detachPort(vlanId: string, sw: string, port: string, actor: string, at: string): Op<void> {
  const { changes } = yield q(
    "DELETE FROM vlan_ports WHERE vlan_id = ? AND switch = ? AND port = ?",
    vlanId,
    sw,
    port,
  );
  if (changes > 0) yield* event(actor, "vlan.detach", `vlan:${vlanId}`, { switch: sw, port }, at);
}

/** Removes the VLAN's row; refuses (VlanInUse, naming the ports) while any port carries it. */
export function* deleteVlan(id: string, actor: string, at: string): Op<boolean> {
  const ports = yield* vlanPorts({ vlanId: id });
  if (ports.length > 0) throw vlanInUse((yield* readVlan(id))!, ports);
  const { changes } = yield q("DELETE FROM vlans WHERE id = ?", id);
  if (changes > 0) yield* event(actor, "vlan.delete", `vlan:${id}`, {}, at);
  return changes > 0;
}

export function vlanInUse(vlan: VlanRecord, ports: VlanPort[]): VlanError {
  const list = ports.map((p) => `${p.switch} ${p.port} (machine ${p.machineId}, ${p.mode})`).join(", ");
  return new VlanError(
    "VlanInUse",
    `VLAN ${vlan.vid} in facility ${vlan.facility} is still attached to ${ports.length} port(s): ${list}; ` +
      "detach those servers from it first, or delete with force to detach them",
  );
}

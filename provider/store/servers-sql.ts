// Servers and their provisioning sessions, written once for both backends (see
// inventory-sql.ts for how the generators run). A server row is inserted in the same
// transaction that claims its machine, before any hardware is touched, keyed by the Pulumi
// resource's owner key: a later run finds it and adopts it instead of claiming a second machine.
import { InventoryConflict } from "../inventory/errors";
import type { MachineRecord } from "../inventory/types";
import type { StagedBoot } from "../provisioning/spec";
import { event as recordEvent, readMachine, type Op, type Query } from "./inventory-sql";

export const SERVER_STATES = ["provisioning", "active", "reinstalling", "deprovisioning", "failed"] as const;
export type ServerState = (typeof SERVER_STATES)[number];
export const SESSION_STATES = ["staged", "booting", "installing", "done", "failed"] as const;
export type SessionState = (typeof SESSION_STATES)[number];

export interface ServerRecord {
  id: string;
  owner: string;
  project: string;
  facility: string;
  plan: string;
  machineId: string;
  hostname: string;
  state: ServerState;
  failedStep: string | null;
  spec: Record<string, unknown>;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
}

/** What a session serves: the boot configs as rendered. */
export type StagedConfig = StagedBoot;

export interface ProvisioningSession {
  token: string;
  serverId: string;
  machineId: string;
  kind: "install" | "wipe";
  state: SessionState;
  message: string | null;
  staged: StagedConfig;
  /** How many reports (fetches, progress, the final one) the session has taken. */
  reports: number;
  /** When the installer said the OS is on the disk (install.written); later boots go there. */
  writtenAt: string | null;
  /** The address the boot script (with the session's token) was first handed to. */
  bootClient: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface ClaimRequest {
  id: string;
  owner: string;
  project: string;
  facility: string;
  /** A plan to take any available machine of, or one machine by id. */
  plan?: string;
  machineId?: string;
  hostname: string;
  spec: Record<string, unknown>;
}

const q = (sql: string, ...params: unknown[]): Query => ({ sql, params });
const json = (v: unknown) => (typeof v === "string" ? (JSON.parse(v) as unknown) : v);
const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : String(v));
/** Bounded: each lost race means another claimer took that machine, so progress is certain. */
const CLAIM_ATTEMPTS = 64;

function toServer(r: Record<string, unknown>): ServerRecord {
  return {
    id: String(r.id),
    owner: String(r.owner),
    project: String(r.project),
    facility: String(r.facility),
    plan: String(r.plan),
    machineId: String(r.machine_id),
    hostname: String(r.hostname),
    state: r.state as ServerState,
    failedStep: (r.failed_step as string | null) ?? null,
    spec: json(r.spec) as Record<string, unknown>,
    createdBy: String(r.created_by),
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

function toSession(r: Record<string, unknown>): ProvisioningSession {
  return {
    token: String(r.token),
    serverId: String(r.server_id),
    machineId: String(r.machine_id),
    kind: r.kind as "install" | "wipe",
    state: r.state as SessionState,
    message: (r.message as string | null) ?? null,
    staged: json(r.staged) as StagedConfig,
    reports: Number(r.reports ?? 0),
    writtenAt: r.written_at === null || r.written_at === undefined ? null : iso(r.written_at),
    bootClient: (r.boot_client as string | null | undefined) ?? null,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

function* event(actor: string, action: string, serverId: string, detail: unknown, at: string): Op<void> {
  yield* recordEvent(actor, action, `server:${serverId}`, detail, at);
}

export function* readServer(where: "id" | "owner", value: string): Op<ServerRecord | undefined> {
  const { rows } = yield q(`SELECT * FROM servers WHERE ${where === "id" ? "id" : "owner"} = ?`, value);
  return rows[0] && toServer(rows[0]);
}

export function* listServers(project?: string): Op<ServerRecord[]> {
  const { rows } = project
    ? yield q("SELECT * FROM servers WHERE project = ? ORDER BY hostname, id", project)
    : yield q("SELECT * FROM servers ORDER BY hostname, id");
  return rows.map(toServer);
}

/** One column (named k) of a query's rows, as strings. */
function* column(sql: string): Op<string[]> {
  const { rows } = yield q(sql);
  return rows.map((r) => String(r.k));
}

/**
 * The facility, plan or named machine a server asks for that the inventory does not have, said
 * as the input and what there is; nothing when all are there.
 */
export function* notInInventory(req: {
  facility: string;
  plan?: string;
  machineId?: string;
}): Op<string | undefined> {
  const facilities = yield* column("SELECT code AS k FROM facilities ORDER BY code");
  if (!facilities.includes(req.facility))
    return `facility: ${req.facility} is not in the inventory (facilities: ${facilities.join(", ") || "none"})`;
  if (req.plan !== undefined) {
    const plans = yield* column("SELECT name AS k FROM plans ORDER BY name");
    if (!plans.includes(req.plan))
      return `plan: ${req.plan} is not in the inventory (plans: ${plans.join(", ") || "none"})`;
  }
  if (req.machineId !== undefined && !(yield* readMachine(req.machineId)))
    return `machine: ${req.machineId} is not in the inventory`;
  return undefined;
}

/** Claims a machine and records the server, or returns what an earlier run of the same owner left. */
export function* claimServer(
  req: ClaimRequest,
  actor: string,
  at: string,
): Op<{ server: ServerRecord; machine: MachineRecord; adopted: boolean }> {
  const prior = yield* readServer("owner", req.owner);
  if (prior) return { server: prior, machine: (yield* readMachine(prior.machineId))!, adopted: true };

  // The server row goes in first, naming the machine, and the machine follows: so the
  // database can hold a member to changing only machines its own servers name (on PostgreSQL
  // the machines policy checks exactly that), and its unique machine_id decides a race.
  // Only for a machine still available, in the statement itself: PostgreSQL's policy refuses
  // (an error, not a conflict) a member's row naming one that is not, and a claim that lost
  // the machine to another since it looked must go on to the next.
  const insertServer = (machineId: string, plan: string) =>
    q(
      `INSERT INTO servers (id, owner, project, facility, plan, machine_id, hostname, state, spec, created_by, created_at, updated_at)
       SELECT ?, ?, ?, ?, ?, ?, ?, 'provisioning', ?, ?, ?, ?
        WHERE EXISTS (SELECT 1 FROM machines WHERE id = ? AND state = 'available')
       ON CONFLICT (machine_id) DO NOTHING`,
      req.id,
      req.owner,
      req.project,
      req.facility,
      plan,
      machineId,
      req.hostname,
      JSON.stringify(req.spec),
      actor,
      at,
      at,
      machineId,
    );
  const takeMachine = (machineId: string) =>
    q(
      "UPDATE machines SET state = 'provisioning', owner = ?, state_reason = NULL, updated_at = ? WHERE id = ? AND state = 'available'",
      req.owner,
      at,
      machineId,
    );

  let machineId: string | undefined;
  if (req.machineId) {
    const m = yield* readMachine(req.machineId);
    if (!m)
      throw new InventoryConflict("MachineNotFound", `machine: ${req.machineId} is not in the inventory`);
    if (m.facility !== req.facility) {
      throw new InventoryConflict(
        "MachineStateConflict",
        `machine: ${m.id} is in facility ${m.facility}, not ${req.facility}`,
      );
    }
    // Thrown, the transaction rolls back the server row too.
    const taken = (yield insertServer(m.id, m.plan)).changes === 1 && (yield takeMachine(m.id)).changes === 1;
    if (!taken) {
      throw new InventoryConflict(
        "MachineStateConflict",
        `machine: ${m.id} is ${m.state}${m.owner ? ` (held by ${m.owner})` : ""}, not available`,
      );
    }
    machineId = m.id;
  } else {
    const passed = new Set<string>();
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS && !machineId; attempt++) {
      const { rows } = yield q(
        "SELECT id FROM machines WHERE facility = ? AND plan = ? AND state = 'available' ORDER BY id LIMIT ?",
        req.facility,
        req.plan,
        passed.size + 1,
      );
      const candidate = rows.map((r) => String(r.id)).find((id) => !passed.has(id));
      if (!candidate) break;
      passed.add(candidate);
      if ((yield insertServer(candidate, req.plan!)).changes !== 1) continue; // another claim has it
      if ((yield takeMachine(candidate)).changes === 1) machineId = candidate;
      else yield q("DELETE FROM servers WHERE id = ?", req.id); // no longer available
    }
    if (!machineId) {
      const { rows } = yield q(
        "SELECT state, count(*) AS n FROM machines WHERE facility = ? AND plan = ? GROUP BY state ORDER BY state",
        req.facility,
        req.plan,
      );
      const counts =
        rows.map((r) => `${String(r.n)} ${String(r.state)}`).join(", ") || "none in the inventory";
      // A facility or plan that is not there at all is the input to name, not the plan's stock.
      if (rows.length === 0) {
        const missing = yield* notInInventory({ facility: req.facility, plan: req.plan });
        if (missing) throw new InventoryConflict("NoMachineAvailable", missing);
      }
      throw new InventoryConflict(
        "NoMachineAvailable",
        `plan: no ${req.plan} machine is available in facility ${req.facility} (${counts})`,
      );
    }
  }
  const machine = (yield* readMachine(machineId))!;
  yield* event(actor, "server.claim", req.id, { machine: machineId, owner: req.owner }, at);
  return { server: (yield* readServer("id", req.id))!, machine, adopted: false };
}

export function* setServerState(
  id: string,
  change: {
    state: ServerState;
    failedStep?: string | null;
    hostname?: string;
    spec?: Record<string, unknown>;
  },
  actor: string,
  at: string,
): Op<ServerRecord> {
  const s = yield* readServer("id", id);
  if (!s) throw new InventoryConflict("MachineNotFound", `server ${id} does not exist`);
  yield q(
    "UPDATE servers SET state = ?, failed_step = ?, hostname = ?, spec = ?, updated_at = ? WHERE id = ?",
    change.state,
    change.failedStep ?? null,
    change.hostname ?? s.hostname,
    JSON.stringify(change.spec ?? s.spec),
    at,
    id,
  );
  // The machine follows its server: active while the server is, provisioning or wiping otherwise.
  const machineState =
    change.state === "active"
      ? "active"
      : change.state === "failed"
        ? "provisioning"
        : change.state === "deprovisioning"
          ? "deprovisioning"
          : "provisioning";
  yield q(
    "UPDATE machines SET state = ?, updated_at = ? WHERE id = ? AND owner = ?",
    machineState,
    at,
    s.machineId,
    s.owner,
  );
  yield* event(
    actor,
    `server.${change.state}`,
    id,
    change.failedStep ? { failedStep: change.failedStep } : null,
    at,
  );
  return (yield* readServer("id", id))!;
}

/** The server is gone; its machine goes back to the pool, or to quarantine when it may hold data or be broken. */
export function* finishServer(
  id: string,
  machineTo: "available" | "quarantine",
  reason: string | null,
  actor: string,
  at: string,
): Op<void> {
  const s = yield* readServer("id", id);
  if (!s) return;
  yield* closeSessions(s.machineId, "superseded", at);
  // The machine first: on PostgreSQL a member may change only a machine its server holds.
  yield q(
    "UPDATE machines SET state = ?, owner = NULL, state_reason = ?, updated_at = ? WHERE id = ? AND owner = ?",
    machineTo,
    reason,
    at,
    s.machineId,
    s.owner,
  );
  yield q("DELETE FROM servers WHERE id = ?", id);
  yield* event(actor, "server.finish", id, { machine: s.machineId, machineTo, reason }, at);
}

/**
 * A machine still held under an owner key no server row has (the row went out of band): it
 * may hold that server's OS, so it goes to quarantine, never back to the pool. On PostgreSQL
 * only an operator may (row security): a member's delete leaves it for one.
 */
export function* quarantineOrphan(owner: string, actor: string, at: string): Op<string | undefined> {
  const { rows } = yield q(
    "SELECT id FROM machines WHERE owner = ? AND NOT EXISTS (SELECT 1 FROM servers WHERE owner = ?)",
    owner,
    owner,
  );
  const id = rows[0] && String(rows[0].id);
  if (!id) return undefined;
  const reason = `held by ${owner}, whose server row was gone when its delete ran: check the disks, then release it`;
  const done = yield q(
    "UPDATE machines SET state = 'quarantine', owner = NULL, state_reason = ?, updated_at = ? WHERE id = ? AND owner = ?",
    reason,
    at,
    id,
    owner,
  );
  if (done.changes !== 1) return undefined;
  yield* closeSessions(id, "superseded", at);
  yield* event(actor, "machine.quarantine", id, { from: "held", reason }, at);
  return id;
}

/** Ends the machine's open session, if any: the boot server stops serving it an installer. */
export function* closeSessions(machineId: string, message: string, at: string): Op<void> {
  const { rows } = yield q(
    "SELECT token, staged FROM provisioning WHERE machine_id = ? AND state NOT IN ('done', 'failed')",
    machineId,
  );
  for (const r of rows) {
    yield q(
      "UPDATE provisioning SET state = 'failed', message = ?, updated_at = ?, staged = ? WHERE token = ?",
      message,
      at,
      finishedStaged(json(r.staged) as StagedConfig),
      r.token,
    );
  }
}

/**
 * What a finished session keeps of its configs: the iPXE script (an alwaysPxe custom script is
 * served from it on every boot), not the OS configs with their root password hash, userData
 * and customData, which nothing serves again and which would otherwise stay for ever.
 */
function finishedStaged(staged: StagedConfig): string {
  return JSON.stringify({ ipxe: staged.ipxe, ...(staged.handoff ? { handoff: true } : {}) });
}

/** A new boot for the machine; any session it still had open is closed. */
export function* stageSession(
  s: { token: string; serverId: string; machineId: string; kind: "install" | "wipe"; staged: StagedConfig },
  actor: string,
  at: string,
): Op<void> {
  yield* closeSessions(s.machineId, "superseded", at);
  yield q(
    `INSERT INTO provisioning (token, server_id, machine_id, kind, state, staged, created_at, updated_at)
     VALUES (?, ?, ?, ?, 'staged', ?, ?, ?)`,
    s.token,
    s.serverId,
    s.machineId,
    s.kind,
    JSON.stringify(s.staged),
    at,
    at,
  );
  yield* event(actor, `${s.kind}.staged`, s.serverId, { machine: s.machineId }, at);
}

export function* sessionByToken(token: string): Op<ProvisioningSession | undefined> {
  const { rows } = yield q("SELECT * FROM provisioning WHERE token = ?", token);
  return rows[0] && toSession(rows[0]);
}

/** Whether a boot was ever staged for the server: from then on its machine may have been powered. */
export function* bootStaged(serverId: string): Op<boolean> {
  const { rows } = yield q("SELECT 1 AS staged FROM provisioning WHERE server_id = ? LIMIT 1", serverId);
  return rows.length > 0;
}

/**
 * The states of sessions, in one query, for the process-wide poll (session-watch.ts): just
 * state and message, since the staged configs are kilobytes each. Tokens with no session are
 * absent from the result.
 */
export interface SessionProgress {
  state: SessionState;
  message: string | null;
  /** The installer said the OS is on the disk (install.written). */
  written: boolean;
}

export function* sessionStates(tokens: string[]): Op<Map<string, SessionProgress>> {
  const { rows } = yield q(
    `SELECT token, state, message, written_at FROM provisioning WHERE token IN (${tokens.map(() => "?").join(", ")})`,
    ...tokens,
  );
  return new Map(
    rows.map((r) => [
      r.token as string,
      {
        state: r.state as SessionState,
        message: (r.message as string | null) ?? null,
        written: r.written_at !== null && r.written_at !== undefined,
      },
    ]),
  );
}

/** The open session of the machine that has this MAC, if any: what it boots now. */
export function* sessionByMac(mac: string): Op<ProvisioningSession | undefined> {
  const { rows } = yield q(
    `SELECT p.* FROM provisioning p JOIN machine_nics n ON n.machine_id = p.machine_id
     WHERE n.mac = ? AND p.state NOT IN ('done', 'failed') ORDER BY p.created_at DESC LIMIT 1`,
    mac.toLowerCase(),
  );
  return rows[0] && toSession(rows[0]);
}

/**
 * For a machine with no open session: the custom iPXE script of an active custom_ipxe server
 * that asked for alwaysPxe (it netboots on every boot, not only to install).
 */
export function* alwaysPxeScript(mac: string): Op<string | undefined> {
  const { rows } = yield q(
    `SELECT s.id, s.spec FROM servers s JOIN machine_nics n ON n.machine_id = s.machine_id
     WHERE n.mac = ? AND s.state = 'active'`,
    mac.toLowerCase(),
  );
  const server = rows[0];
  if (!server) return undefined;
  const spec = json(server.spec) as { alwaysPxe?: boolean; operatingSystem?: string };
  if (!spec.alwaysPxe || spec.operatingSystem !== "custom_ipxe") return undefined;
  const { rows: sessions } = yield q(
    "SELECT staged FROM provisioning WHERE server_id = ? AND kind = 'install' ORDER BY created_at DESC LIMIT 1",
    server.id,
  );
  return sessions[0] && (json(sessions[0].staged) as StagedConfig).ipxe;
}

const NEXT: Record<string, SessionState> = {
  "boot.fetched": "booting",
  "install.started": "installing",
  "wipe.started": "installing",
  "phone-home": "done",
  "wipe.done": "done",
  "install.failed": "failed",
  "wipe.failed": "failed",
};
// Sessions only move forward: a second fetch of the boot script (a reboot, or anyone who asks
// by MAC) does not put an install back to booting.
const RANK: Record<SessionState, number> = { staged: 0, booting: 1, installing: 2, done: 3, failed: 3 };

/** Which reports a session of each kind takes: a wipe is never finished by a phone-home. */
function fits(kind: ProvisioningSession["kind"], type: string): boolean {
  if (type === "boot.fetched" || type === "boot.refused" || type === "config.fetched") return true;
  return kind === "install" ? type === "phone-home" || type.startsWith("install.") : type.startsWith("wipe.");
}

// An installer reports a few dozen times; the cap bounds what a looping client, or anyone who
// fetches a machine's script by MAC over and over, can add to the store's timeline. The report
// that finishes a session is always taken, so a session never stays open for want of room.
export const MAX_REPORTS = 500;

export interface ReportRefused {
  refused: "unknown" | "finished" | "wrong-kind" | "too-many";
  reason: string;
}

/**
 * What the machine said: moves its session along and records it on the server's timeline.
 * Returns why it was refused, or nothing when it was taken.
 */
export function* reportSession(
  token: string,
  type: string,
  message: string | null,
  at: string,
  /** The session as the caller read it in this transaction, so it is not read twice. */
  read?: ProvisioningSession,
): Op<ReportRefused | undefined> {
  const s = read ?? (yield* sessionByToken(token));
  if (!s) return { refused: "unknown", reason: "unknown session" };
  // A finished session takes nothing more: its token may have been seen by others since.
  if (s.state === "done" || s.state === "failed") {
    return { refused: "finished", reason: `this ${s.kind} session is ${s.state}` };
  }
  if (!fits(s.kind, type)) {
    return { refused: "wrong-kind", reason: `${type} is not a report of a ${s.kind} session` };
  }
  const next = type === "boot.fetched" && s.staged.handoff ? "done" : NEXT[type];
  const finishes = next === "done" || next === "failed";
  if (!finishes && s.reports >= MAX_REPORTS) {
    return {
      refused: "too-many",
      reason: `this ${s.kind} session has taken ${MAX_REPORTS} reports; only the one that finishes it is taken now`,
    };
  }
  // One statement whatever the report changes: the boot server answers every fetch through here.
  const set: [string, unknown][] = [];
  if (next && RANK[next] > RANK[s.state]) {
    set.push(["state", next], ["message", message], ["updated_at", at]);
    if (finishes) set.push(["staged", finishedStaged(s.staged)]);
  }
  if (type === "install.written") set.push(["written_at", at]);
  // Not progress, but what a wait that times out should name: someone else has the script.
  if (type === "boot.refused") set.push(["message", message]);
  yield q(
    `UPDATE provisioning SET ${["reports = reports + 1", ...set.map(([c]) => `${c} = ?`)].join(", ")} WHERE token = ?`,
    ...set.map(([, v]) => v),
    token,
  );
  yield* event(`machine:${s.machineId}`, type, s.serverId, message === null ? null : { message }, at);
  return undefined;
}

/**
 * A machine fetches its boot script, which holds the session's token: the first address to
 * fetch it is the session's, and a fetch from any other is refused and recorded on the
 * timeline (the token is all that guards the session's configs and reports, and anyone on the
 * provisioning network can ask by MAC). Returns the script, or why it was refused.
 */
export function* fetchBootScript(
  token: string,
  mac: string,
  client: string,
  at: string,
): Op<{ script: string } | { refused: string } | { ended: true }> {
  // Read by MAC a moment ago in another transaction: the session may have ended since (a
  // retry or a delete closed it), and its script must not go out after that.
  yield q(
    "UPDATE provisioning SET boot_client = ? WHERE token = ? AND boot_client IS NULL AND state NOT IN ('done', 'failed')",
    client,
    token,
  );
  const s = yield* sessionByToken(token);
  if (!s) return { refused: "unknown session" };
  if (s.state === "done" || s.state === "failed") return { ended: true };
  if (s.bootClient !== client) {
    yield* reportSession(
      token,
      "boot.refused",
      `boot script refused to ${client} (${mac}): handed to ${s.bootClient} first`,
      at,
      s,
    );
    return { refused: "this machine's boot script was handed to another address already" };
  }
  yield* reportSession(token, "boot.fetched", `by ${mac}`, at, s);
  return { script: s.staged.ipxe };
}

export interface TimelineEvent {
  at: string;
  action: string;
  detail: unknown;
}

export function* serverTimeline(serverId: string): Op<TimelineEvent[]> {
  const { rows } = yield q(
    "SELECT at, action, detail FROM events WHERE subject = ? ORDER BY id",
    `server:${serverId}`,
  );
  return rows.map((r) => ({ at: iso(r.at), action: String(r.action), detail: json(r.detail) }));
}

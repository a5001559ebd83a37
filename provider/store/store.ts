// The state store: one interface, several backends (sqlite.ts, and PostgreSQL for teams).
// Every allocation is one transaction that the database itself keeps consistent.

import type { InventoryChange, InventoryState, MachineRecord, MachineState } from "../inventory/types";
import type { Op } from "./inventory-sql";

export const POOL_TYPES = ["public_ipv4", "private_ipv4", "public_ipv6", "global_ipv4"] as const;
export type PoolType = (typeof POOL_TYPES)[number];

export const poolTypeFamily = (type: PoolType): 4 | 6 => (type === "public_ipv6" ? 6 : 4);

export interface Facility {
  code: string;
  name: string | null;
  createdAt: string;
}

export interface NewPool {
  name: string;
  type: PoolType;
  cidr: string;
  /** The facility the pool serves; null for global pools. */
  facility: string | null;
  /** Set when the pool belongs to one project only. */
  project: string | null;
  description?: string | null;
}

export interface Pool extends Required<NewPool> {
  id: number;
  family: 4 | 6;
  createdAt: string;
}

export type BlockRequest = { prefixLength: number } | { cidr: string };

export interface AllocateRequest {
  project: string;
  type: PoolType;
  /** Null for global addresses. */
  facility: string | null;
  block: BlockRequest;
  tags: string[];
  description: string | null;
  /**
   * `<organization>/<project>/<stack>/<resource name>` of the Pulumi resource that will own the
   * reservation, recorded in the same transaction so an interrupted run can find it again.
   */
  owner: string | null;
  actor: string;
}

export interface Reservation {
  id: string;
  poolName: string;
  type: PoolType;
  facility: string | null;
  project: string;
  cidr: string;
  family: 4 | 6;
  prefixLength: number;
  tags: string[];
  description: string | null;
  owner: string | null;
  /** The actor whose request created it. */
  createdBy: string;
  createdAt: string;
  updatedAt: string;
}

/** The reservation an allocation just made: what the request said, and where it landed. */
export function newReservation(
  req: AllocateRequest,
  made: Pick<Reservation, "id" | "poolName" | "type" | "facility" | "cidr" | "family" | "prefixLength">,
  at: string,
): Reservation {
  return {
    ...made,
    project: req.project,
    tags: [...req.tags],
    description: req.description,
    owner: req.owner,
    createdBy: req.actor,
    createdAt: at,
    updatedAt: at,
  };
}

/** The server's host address in a reservation: the one it has, else a new one. */
export async function hostAssignment(
  store: Pick<Store, "listAssignments" | "assign">,
  reservation: Reservation,
  server: string,
  actor: string,
): Promise<Assignment> {
  const held = await store.listAssignments({ reservationId: reservation.id });
  return (
    held.find((a) => a.server === server) ??
    (await store.assign(reservation.id, { prefixLength: reservation.family === 4 ? 32 : 128 }, server, actor))
  );
}

/** An address or subnet of a reservation, given to a server. */
export interface HostAddress {
  reservation: Reservation;
  assignment: Assignment;
}

export interface Assignment {
  id: string;
  reservationId: string;
  cidr: string;
  /** The first (for a single address, the only) address. */
  address: string;
  server: string;
  createdAt: string;
}

export type AssignmentRequest = { prefixLength: number } | { cidr: string };

export interface ReservationFilter {
  project?: string;
  pool?: string;
  owner?: string;
}

export interface PoolUsage {
  pool: Pool;
  /** Address counts as decimal strings: IPv6 pools exceed 2^53. */
  total: string;
  allocated: string;
  free: string;
  reservations: number;
  /** Free blocks by prefix length, largest blocks first. */
  freeBlocks: { prefixLength: number; count: number }[];
}

export interface MigrationState {
  current: number;
  latest: number;
  applied: { version: number; name: string; appliedAt: string }[];
  pending: { version: number; name: string }[];
}

export interface StoreEvent {
  at: string;
  actor: string;
  action: string;
  subject: string;
  detail: unknown;
}

export interface SessionListener {
  change(): void;
  lost(): void;
}

export interface Store {
  /**
   * Who the database itself knows this connection as, when it enforces access per login
   * (PostgreSQL member logins); undefined when the provider's baremetal:actor stands.
   */
  identity(): Promise<string | undefined>;
  /** Where the store lives, without credentials, for messages. */
  readonly location: string;
  migrate(): Promise<MigrationState>;
  migrationState(): Promise<MigrationState>;

  /** Adds the facility; does nothing when it exists already. */
  ensureFacility(code: string, name: string | null, actor: string): Promise<Facility>;
  listFacilities(): Promise<Facility[]>;

  /** The pool's facility must exist. Refused with PoolOverlap when it overlaps any pool. */
  addPool(pool: NewPool, actor: string): Promise<Pool>;
  listPools(): Promise<Pool[]>;
  getPool(name: string): Promise<Pool | undefined>;
  /** Refused with PoolInUse while the pool has reservations. */
  removePool(name: string, actor: string): Promise<void>;
  /** Sets the pool's description, the one thing about a pool that changes in place. */
  describePool(name: string, description: string | null, actor: string): Promise<Pool>;
  poolUsage(name: string): Promise<PoolUsage>;
  /** The pool's free blocks in address order (CIDR notation). */
  listFreeBlocks(name: string): Promise<string[]>;

  allocate(req: AllocateRequest): Promise<Reservation>;
  /**
   * A server's own blocks: each request allocated (or adopted, as `allocate` does) and one host
   * address of it given to the server, keeping one it already has. SQLite does all of them in
   * one transaction (one durable commit per server, not six). PostgreSQL does them one by one,
   * each allocation its single fast statement; after a failure the blocks already taken stay
   * under their owner keys for the caller to release by owner, as Server's undo does.
   */
  allocateHosts(requests: AllocateRequest[], server: string, actor: string): Promise<HostAddress[]>;
  getReservation(id: string): Promise<Reservation | undefined>;
  listReservations(filter?: ReservationFilter): Promise<Reservation[]>;
  updateReservation(
    id: string,
    change: { tags: string[]; description: string | null },
    actor: string,
  ): Promise<Reservation>;
  /** Frees the block; false when there was no such reservation. Refused while assigned. */
  release(id: string, actor: string): Promise<boolean>;

  /** Gives a server one host address (the default) or an aligned subnet of a reservation. */
  assign(
    reservationId: string,
    request: AssignmentRequest,
    server: string,
    actor: string,
  ): Promise<Assignment>;
  unassign(id: string, actor: string): Promise<boolean>;
  listAssignments(filter: { reservationId?: string; server?: string }): Promise<Assignment[]>;

  /** Facilities with their VLAN settings, plans, switches and machines (with state). */
  inventory(): Promise<InventoryState>;
  /**
   * All changes in one transaction; each re-checks its precondition (a machine in use stays).
   * `rollback`: every check and change is made, then undone (a dry run meets what a real run
   * would be refused for).
   */
  applyInventory(changes: InventoryChange[], actor: string, opts?: { rollback?: boolean }): Promise<void>;
  getMachine(id: string): Promise<MachineRecord | undefined>;
  /** Refused with MachineStateConflict unless the machine is in one of `from` now. */
  setMachineState(
    id: string,
    from: MachineState[],
    to: MachineState,
    reason: string | null,
    actor: string,
  ): Promise<MachineRecord>;

  /**
   * Runs a shared operation (inventory-sql.ts, servers-sql.ts) in one transaction; `at` is
   * the time it records. Reads see one snapshot; writes are serialized where they must be.
   */
  transact<T>(op: (at: string) => Op<T>, mode?: "read" | "write"): Promise<T>;

  /**
   * Runs `fn` holding the named hold, which every process using this store respects, on any
   * host: switch changes take `switch <name>`, so two `pulumi up`s never configure one switch
   * at once. Released when `fn` settles, or by the database when the process dies. After
   * waiting `waitMs` for another process it fails with HoldTimeout, having run nothing.
   */
  hold<T>(name: string, waitMs: number, fn: () => Promise<T>): Promise<T>;

  /** The newest changes first: who did what to which subject. */
  events(limit?: number): Promise<StoreEvent[]>;

  /**
   * Tells `listener.change` soon after a provisioning session's state changes, whichever
   * process or host changed it (it may also call when nothing did), until the returned stop is
   * called or the store closes; `listener.lost` when it can no longer tell. Undefined when this
   * store cannot tell at all: the caller polls.
   */
  watchSessions(listener: SessionListener): Promise<(() => Promise<void>) | undefined>;

  close(): Promise<void>;
}

/** Thrown inside a transaction to undo it: a dry run that got through every check. */
export class RolledBack extends Error {
  constructor() {
    super("rolled back");
  }
}

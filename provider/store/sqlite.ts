// The embedded store: one SQLite file, WAL, every commit flushed to disk (synchronous=FULL),
// because an allocation forgotten after a crash is a future duplicate. Writes take the write
// lock up front (BEGIN IMMEDIATE), so concurrent processes queue instead of deadlocking.
import Database from "better-sqlite3";
import { newId } from "./ids";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { pickAssignment } from "../ipam/assign";
import { mergeUp, splitDown } from "../ipam/buddy";
import {
  Block,
  contains,
  familyBits,
  formatAddress,
  formatCidr,
  fromHex,
  lastAddress,
  parseCidr,
  toHex,
} from "../ipam/cidr";
import * as msg from "../ipam/messages";
import {
  checkFacilityCode,
  checkLabels,
  checkNewPool,
  resolveRequest,
  type ResolvedRequest,
} from "../ipam/requests";
import { SQLITE_MIGRATIONS } from "./sqlite-schema";
import { applyInventory, moveMachine, readInventory, readMachine, type Op } from "./inventory-sql";
import type { InventoryChange, InventoryState, MachineRecord, MachineState } from "../inventory/types";
import { migrationState, refuseNewer } from "./migrations";
import type {
  AllocateRequest,
  Assignment,
  AssignmentRequest,
  Facility,
  MigrationState,
  NewPool,
  Pool,
  PoolType,
  PoolUsage,
  Reservation,
  ReservationFilter,
  SessionListener,
  Store,
  StoreEvent,
  HostAddress,
} from "./store";
import { RolledBack, newReservation } from "./store";
import { Holds } from "./hold";

interface PoolRow {
  id: number;
  name: string;
  type: PoolType;
  family: 4 | 6;
  cidr: string;
  prefix_len: number;
  facility: string | null;
  project: string | null;
  description: string | null;
  created_at: string;
}

interface ReservationRow {
  id: string;
  pool_name: string;
  type: PoolType;
  facility: string | null;
  family: 4 | 6;
  project: string;
  cidr: string;
  prefix_len: number;
  tags: string;
  description: string | null;
  owner: string | null;
  created_by: string;
  created_at: string;
  updated_at: string;
}

interface AssignmentRow {
  id: string;
  reservation_id: string;
  cidr: string;
  server: string;
  created_at: string;
}

const toPool = (r: PoolRow): Pool => ({
  id: r.id,
  name: r.name,
  type: r.type,
  family: r.family,
  cidr: r.cidr,
  facility: r.facility,
  project: r.project,
  description: r.description,
  createdAt: r.created_at,
});

const toReservation = (r: ReservationRow): Reservation => ({
  id: r.id,
  poolName: r.pool_name,
  type: r.type,
  facility: r.facility,
  project: r.project,
  cidr: r.cidr,
  family: r.family,
  prefixLength: r.prefix_len,
  tags: JSON.parse(r.tags) as string[],
  description: r.description,
  owner: r.owner,
  createdBy: r.created_by,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const toAssignment = (r: AssignmentRow): Assignment => {
  const block = parseCidr(r.cidr);
  return {
    id: r.id,
    reservationId: r.reservation_id,
    cidr: r.cidr,
    address: formatAddress(block.family, block.network),
    server: r.server,
    createdAt: r.created_at,
  };
};

const RESERVATION_SELECT = `
  SELECT r.id, p.name AS pool_name, p.type, p.facility, p.family, r.project, r.cidr, r.prefix_len,
         r.tags, r.description, r.owner, r.created_by, r.created_at, r.updated_at
  FROM reservations r JOIN pools p ON p.id = r.pool_id`;

const now = () => new Date().toISOString();

// SQLite's busy handler sleeps in the calling thread, and with better-sqlite3 that thread is the
// event loop: while another process held the write lock, the boot server answered no machine
// and the provider no engine call. So SQLite waits only briefly itself, and longer waits
// happen between attempts here, with the event loop free. A lock held past BUSY_WAIT_MS
// (another process stuck in a transaction) fails the call, naming the store.
const BUSY_SPIN_MS = 20;
const BUSY_WAIT_MS = 30_000;
const isBusy = (e: unknown) => /^SQLITE_BUSY/.test(String((e as { code?: unknown } | null)?.code ?? ""));
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  /** Store.hold: one lock file per name, and this process's own holders one at a time. */
  private readonly holdFiles = new Map<string, Database.Database>();
  private readonly holds: Holds;
  // One transaction wrapper for every call: better-sqlite3 builds four closures and their
  // properties for each db.transaction(), and the provider runs thousands of small ones.
  private readonly tx: Database.Transaction<(fn: () => unknown) => unknown>;
  /** Set when a session finishes (the trigger below), read when its transaction commits. */
  private sessionsChanged = false;
  private pings = 0;
  private readonly watchers = new Set<fs.FSWatcher>();

  constructor(
    readonly file: string,
    private readonly busyWaitMs = BUSY_WAIT_MS,
  ) {
    if (file !== ":memory:") fs.mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    // Opening waits as long as it must (a new file's WAL mode takes it over for a moment):
    // nothing else runs in this process before the store is open.
    this.db.pragma(`busy_timeout = ${busyWaitMs}`);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = FULL");
    this.db.pragma("foreign_keys = ON");
    // 32 MB of page cache (the default is 2 MB): a pool with 100,000 reservations keeps the
    // pages an allocation walks in memory instead of reading them back from the OS each time.
    this.db.pragma("cache_size = -32768");
    this.tx = this.db.transaction((fn: () => unknown) => fn());
    // Other processes (parallel `pulumi up`s, the CLI, the boot server) write too: wait for
    // them, do not fail; see BUSY_SPIN_MS.
    this.db.pragma(`busy_timeout = ${Math.min(BUSY_SPIN_MS, busyWaitMs)}`);
    // What PostgreSQL's bm_inventory_hold() waits for, SQLite's one writer at a time has done.
    this.db.function("bm_inventory_hold", () => 1);
    this.db.function("bm_sessions_changed", () => {
      this.sessionsChanged = true;
      return null;
    });
    this.watchSessionWrites();
    this.holds = new Holds({ take: (n) => this.takeHold(n), give: (n) => this.giveHold(n) }, this.location);
  }

  /** One user's file: the actor is whoever baremetal:actor says. */
  async identity(): Promise<string | undefined> {
    return undefined;
  }

  get location(): string {
    return `sqlite:${this.file}`;
  }

  /** The durability settings this connection runs with, for benchmarks and diagnostics. */
  durability(): string {
    const sync = ["OFF", "NORMAL", "FULL", "EXTRA"][
      this.db.pragma("synchronous", { simple: true }) as number
    ];
    return `journal_mode=${String(this.db.pragma("journal_mode", { simple: true }))}, synchronous=${sync}`;
  }

  /** Prepared once per connection: preparing costs as much as running these small statements. */
  private sql(text: string): Database.Statement {
    let s = this.statements.get(text);
    if (!s) {
      s = this.db.prepare(text);
      this.statements.set(text, s);
    }
    return s;
  }

  /** A write transaction (BEGIN IMMEDIATE): the write lock from its start, so it never deadlocks. */
  private write<T>(fn: () => T): Promise<T> {
    return this.unbusy(() => {
      this.sessionsChanged = false;
      const result = this.tx.immediate(fn) as T;
      if (this.sessionsChanged) this.pingSessions();
      return result;
    });
  }

  /**
   * Where a committed session change is announced (Store.watchSessions): a small file beside
   * the database, rewritten after the commit, which inotify reports to every process watching.
   * The database's own files will not do: its WAL is written before the commit is visible
   * (a reader woken by it could read the old state and then wait a whole poll), and its
   * shared-memory index changes through mmap, which inotify does not see.
   */
  private get sessionsFile(): string {
    return `${this.file}-sessions`;
  }

  private pingSessions(): void {
    if (this.file === ":memory:") return;
    try {
      fs.writeFileSync(this.sessionsFile, String(++this.pings));
    } catch {
      // Best effort: the waiters poll anyway.
    }
  }

  async watchSessions(listener: SessionListener): Promise<(() => Promise<void>) | undefined> {
    if (this.file === ":memory:") return undefined;
    let watcher: fs.FSWatcher;
    // Removed or replaced (a cleanup), or failing: blind from now; the next wait makes another.
    const blind = () => {
      this.watchers.delete(watcher);
      watcher.close();
      listener.lost();
    };
    try {
      // The file itself, not its directory, where every commit's WAL writes would call us too.
      fs.closeSync(fs.openSync(this.sessionsFile, "a"));
      watcher = fs.watch(this.sessionsFile, { persistent: false }, (event) =>
        event === "change" ? listener.change() : blind(),
      );
    } catch {
      return undefined; // no inotify here (or out of watches), or a store we cannot write: poll
    }
    watcher.on("error", blind);
    this.watchers.add(watcher);
    return async () => {
      this.watchers.delete(watcher);
      watcher.close();
    };
  }

  /** A read transaction (BEGIN DEFERRED): its statements see one snapshot. */
  private read<T>(fn: () => T): Promise<T> {
    return this.unbusy(() => this.tx.deferred(fn) as T);
  }

  /**
   * Runs a whole transaction again while another process holds the lock it needs. A busy
   * transaction was rolled back before anything was written, and `fn` starts from scratch.
   */
  private async unbusy<T>(attempt: () => T): Promise<T> {
    const started = Date.now();
    for (let delay = 2; ; delay = Math.min(delay * 2, 100)) {
      try {
        return attempt();
      } catch (e) {
        if (!isBusy(e)) throw e;
        const waited = Date.now() - started;
        if (waited >= this.busyWaitMs) {
          throw new Error(
            `the store ${this.location} is busy: another process has held its write lock for ${(waited / 1000).toFixed(1)} s`,
            { cause: e },
          );
        }
        await pause(Math.min(delay, this.busyWaitMs - waited));
      }
    }
  }

  async migrationState(): Promise<MigrationState> {
    await this.unbusy(() =>
      this.db.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
      ),
    );
    const applied = this.db
      .prepare("SELECT version, name, applied_at AS appliedAt FROM schema_migrations ORDER BY version")
      .all() as MigrationState["applied"];
    return migrationState(applied, SQLITE_MIGRATIONS);
  }

  async migrate(): Promise<MigrationState> {
    const state = await this.migrationState();
    refuseNewer(state, this.location);
    for (const m of SQLITE_MIGRATIONS) {
      if (m.version <= state.current) continue;
      await this.write(() => {
        // Another process may have applied it since we looked.
        if (this.db.prepare("SELECT 1 FROM schema_migrations WHERE version = ?").get(m.version)) return;
        this.db.exec(m.sql);
        this.db
          .prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)")
          .run(m.version, m.name, now());
      });
    }
    this.watchSessionWrites();
    return this.migrationState();
  }

  /**
   * What PostgreSQL's migration 23 does with a trigger in the database, this connection does
   * with one of its own (TEMP: it lives and dies with the connection, and the file is not
   * changed): a session finishing or going, or its installer saying the disk is written (a
   * create moves the ports to a layer-3 VLAN of its own then; PostgreSQL's migration 25), marks
   * the transaction, whose commit then pings the watchers. Other reports wake no one: each would
   * be a read for nothing.
   */
  private watchSessionWrites(): void {
    // The table, and its written_at, come with migrations, which call this again.
    const columns = new Set(
      (this.db.prepare("SELECT name FROM pragma_table_info('provisioning')").all() as { name: string }[]).map(
        (c) => c.name,
      ),
    );
    if (columns.size === 0) return;
    this.db.exec(`
      CREATE TEMP TRIGGER IF NOT EXISTS bm_session_finished AFTER UPDATE OF state ON main.provisioning
        WHEN NEW.state IN ('done', 'failed') BEGIN SELECT bm_sessions_changed(); END;
      CREATE TEMP TRIGGER IF NOT EXISTS bm_session_gone AFTER DELETE ON main.provisioning
        BEGIN SELECT bm_sessions_changed(); END;
    `);
    if (!columns.has("written_at")) return;
    this.db.exec(`
      CREATE TEMP TRIGGER IF NOT EXISTS bm_session_written AFTER UPDATE OF written_at ON main.provisioning
        WHEN OLD.written_at IS NULL AND NEW.written_at IS NOT NULL BEGIN SELECT bm_sessions_changed(); END;
    `);
  }

  private event(actor: string, action: string, subject: string, detail?: unknown): void {
    this.sql("INSERT INTO events (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)").run(
      now(),
      actor,
      action,
      subject,
      detail === undefined ? null : JSON.stringify(detail),
    );
  }

  async ensureFacility(code: string, name: string | null, actor: string): Promise<Facility> {
    checkFacilityCode(code);
    return this.write(() => {
      const info = this.sql("INSERT OR IGNORE INTO facilities (code, name, created_at) VALUES (?, ?, ?)").run(
        code,
        name,
        now(),
      );
      if (info.changes) this.event(actor, "facility.add", code);
      return this.facility(code)!;
    });
  }

  private facility(code: string): Facility | undefined {
    return this.sql("SELECT code, name, created_at AS createdAt FROM facilities WHERE code = ?").get(code) as
      Facility | undefined;
  }

  async listFacilities(): Promise<Facility[]> {
    return this.sql(
      "SELECT code, name, created_at AS createdAt FROM facilities ORDER BY code",
    ).all() as Facility[];
  }

  private pools(): Pool[] {
    return (this.sql("SELECT * FROM pools ORDER BY name").all() as PoolRow[]).map(toPool);
  }

  async addPool(pool: NewPool, actor: string): Promise<Pool> {
    return this.write(() => {
      const block = checkNewPool(pool, this.pools());
      if (pool.facility !== null && !this.facility(pool.facility)) throw msg.facilityMissing(pool.facility);
      const info = this.sql(
        `INSERT INTO pools (name, type, family, cidr, network_hex, prefix_len, facility, project, description, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        pool.name,
        pool.type,
        block.family,
        formatCidr(block),
        toHex(block.family, block.network),
        block.prefix,
        pool.facility,
        pool.project,
        pool.description ?? null,
        now(),
      );
      this.insertFree(Number(info.lastInsertRowid), block);
      this.event(actor, "pool.add", pool.name, { cidr: formatCidr(block), type: pool.type });
      return toPool(this.sql("SELECT * FROM pools WHERE id = ?").get(info.lastInsertRowid) as PoolRow);
    });
  }

  async listPools(): Promise<Pool[]> {
    return this.pools();
  }

  async getPool(name: string): Promise<Pool | undefined> {
    const row = this.sql("SELECT * FROM pools WHERE name = ?").get(name) as PoolRow | undefined;
    return row && toPool(row);
  }

  async removePool(name: string, actor: string): Promise<void> {
    await this.write(() => {
      const pool = this.sql("SELECT * FROM pools WHERE name = ?").get(name) as PoolRow | undefined;
      if (!pool) throw msg.poolMissing(name);
      const used = this.sql("SELECT count(*) AS n FROM reservations WHERE pool_id = ?").get(pool.id) as {
        n: number;
      };
      if (used.n > 0) throw msg.poolInUse(name, used.n);
      this.sql("DELETE FROM pools WHERE id = ?").run(pool.id);
      this.event(actor, "pool.remove", name);
    });
  }

  async describePool(name: string, description: string | null, actor: string): Promise<Pool> {
    return this.write(() => {
      const { changes } = this.sql("UPDATE pools SET description = ? WHERE name = ?").run(description, name);
      if (changes !== 1) throw msg.poolMissing(name);
      this.event(actor, "pool.describe", name, { description });
      return toPool(this.sql("SELECT * FROM pools WHERE name = ?").get(name) as PoolRow);
    });
  }

  async poolUsage(name: string): Promise<PoolUsage> {
    // One read transaction, so the counts agree with each other.
    return this.read(() => {
      const row = this.sql("SELECT * FROM pools WHERE name = ?").get(name) as PoolRow | undefined;
      if (!row) throw msg.poolMissing(name);
      const pool = toPool(row);
      const bits = familyBits(pool.family);
      const blocks = this.sql(
        `SELECT prefix_len AS prefixLength, count(*) AS count FROM free_blocks WHERE pool_id = ?
         GROUP BY prefix_len ORDER BY prefix_len`,
      ).all(pool.id) as { prefixLength: number; count: number }[];
      const free = blocks.reduce((sum, b) => sum + (BigInt(b.count) << BigInt(bits - b.prefixLength)), 0n);
      const allocated = (
        this.sql("SELECT prefix_len FROM reservations WHERE pool_id = ?").all(pool.id) as {
          prefix_len: number;
        }[]
      ).reduce((sum, r) => sum + (1n << BigInt(bits - r.prefix_len)), 0n);
      const reservations = (
        this.sql("SELECT count(*) AS n FROM reservations WHERE pool_id = ?").get(pool.id) as { n: number }
      ).n;
      return {
        pool,
        total: (1n << BigInt(bits - row.prefix_len)).toString(),
        allocated: allocated.toString(),
        free: free.toString(),
        reservations,
        freeBlocks: blocks,
      };
    });
  }

  async listFreeBlocks(name: string): Promise<string[]> {
    const pool = await this.getPool(name);
    if (!pool) throw msg.poolMissing(name);
    const rows = this.sql(
      "SELECT prefix_len, network_hex FROM free_blocks WHERE pool_id = ? ORDER BY network_hex",
    ).all(pool.id) as { prefix_len: number; network_hex: string }[];
    return rows.map((r) =>
      formatCidr({ family: pool.family, network: fromHex(r.network_hex), prefix: r.prefix_len }),
    );
  }

  async allocate(req: AllocateRequest): Promise<Reservation> {
    return this.write(() => this.allocateIn(req));
  }

  async allocateHosts(requests: AllocateRequest[], server: string, actor: string): Promise<HostAddress[]> {
    // One transaction, one durable commit, for all of a server's addresses: all or none.
    return this.write(() =>
      requests.map((req) => {
        const reservation = this.allocateIn(req);
        const held = this.assignmentsOf(reservation.id).find((a) => a.server === server);
        const assignment =
          held ??
          this.assignIn(reservation.id, { prefixLength: reservation.family === 4 ? 32 : 128 }, server, actor);
        return { reservation, assignment };
      }),
    );
  }

  private allocateIn(req: AllocateRequest): Reservation {
    checkLabels(req);
    const resolved = resolveRequest(req.type, req.block);
    // Candidate pools: this type and facility, the project's own pools first.
    const rows = this.sql(
      `SELECT * FROM pools WHERE type = ? AND facility IS ? AND (project IS NULL OR project = ?)
       ORDER BY project IS NULL, name`,
    ).all(req.type, req.facility, req.project) as PoolRow[];
    const pools = rows.map(toPool);
    if (pools.length === 0) throw msg.noPool(req.type, req.facility, req.project);

    const adopted = this.adoptInterrupted(req, pools, resolved);
    if (adopted) return adopted;

    let pool: Pool | undefined;
    let block: Block | undefined;
    if (resolved.kind === "exact") {
      pool = pools.find((p) => contains(parseCidr(p.cidr), resolved.block));
      if (!pool) throw msg.notInsideAnyPool(formatCidr(resolved.block), req.type, req.facility, pools);
      block = this.takeExact(pool, resolved.block);
    } else {
      // A pool too small for the request is passed over; refused as too large only when all are.
      const fitting = pools.filter((_, i) => resolved.prefix >= rows[i]!.prefix_len);
      if (fitting.length === 0) {
        const largest = pools.reduce((a, b) => (parseCidr(b.cidr).prefix < parseCidr(a.cidr).prefix ? b : a));
        throw msg.largerThanPool(resolved.prefix, largest);
      }
      for (const p of fitting) {
        block = this.takeBestFit(p, resolved.prefix);
        if (block) {
          pool = p;
          break;
        }
      }
      if (!pool || !block) throw msg.noSpaceLeft(req.type, resolved.prefix, req.facility, req.project, pools);
    }
    const id = newId();
    const at = now();
    const cidr = formatCidr(block);
    this.sql(
      `INSERT INTO reservations (id, pool_id, project, cidr, start_hex, end_hex, prefix_len, tags, description, owner, created_by, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      id,
      pool.id,
      req.project,
      cidr,
      toHex(block.family, block.network),
      toHex(block.family, lastAddress(block)),
      block.prefix,
      JSON.stringify(req.tags),
      req.description,
      req.owner,
      req.actor,
      at,
      at,
    );
    // The row is the record of its creation (created_by, created_at); no separate event.
    return newReservation(
      req,
      {
        id,
        poolName: pool.name,
        type: pool.type,
        facility: pool.facility,
        cidr,
        family: block.family,
        prefixLength: block.prefix,
      },
      at,
    );
  }

  /**
   * A run that died after allocating but before the engine saved the new resource left a
   * reservation recorded under the same owner. Take it over rather than allocate a second block.
   * Its id changes, so if the engine does know an older resource with that id (a forced
   * replacement), deleting that one cannot release the block now held here.
   */
  private adoptInterrupted(
    req: AllocateRequest,
    pools: Pool[],
    resolved: ResolvedRequest,
  ): Reservation | undefined {
    if (req.owner === null) return undefined;
    const candidates = (
      this.sql(`${RESERVATION_SELECT} WHERE r.owner = ? AND r.project = ?`).all(
        req.owner,
        req.project,
      ) as ReservationRow[]
    ).map(toReservation);
    const match = candidates.find(
      (r) =>
        pools.some((p) => p.name === r.poolName) &&
        (resolved.kind === "exact"
          ? r.cidr === formatCidr(resolved.block)
          : r.prefixLength === resolved.prefix),
    );
    if (!match) return undefined;
    const id = newId();
    this.sql("UPDATE reservations SET id = ?, tags = ?, description = ?, updated_at = ? WHERE id = ?").run(
      id,
      JSON.stringify(req.tags),
      req.description,
      now(),
      match.id,
    );
    this.event(req.actor, "reservation.adopt", id, {
      previousId: match.id,
      owner: req.owner,
      cidr: match.cidr,
    });
    return this.reservation(id);
  }

  private takeBestFit(pool: Pool, prefix: number): Block | undefined {
    const row = this.sql(
      `SELECT prefix_len, network_hex FROM free_blocks WHERE pool_id = ? AND prefix_len <= ?
       ORDER BY prefix_len DESC, network_hex LIMIT 1`,
    ).get(pool.id, prefix) as { prefix_len: number; network_hex: string } | undefined;
    if (!row) return undefined;
    return this.split(
      pool,
      { family: pool.family, network: fromHex(row.network_hex), prefix: row.prefix_len },
      prefix,
    );
  }

  private takeExact(pool: Pool, want: Block): Block {
    const bits = familyBits(pool.family);
    const poolPrefix = parseCidr(pool.cidr).prefix;
    for (let p = want.prefix; p >= poolPrefix; p--) {
      const size = 1n << BigInt(bits - p);
      const network = want.network - (want.network % size);
      if (
        this.sql("SELECT 1 FROM free_blocks WHERE pool_id = ? AND prefix_len = ? AND network_hex = ?").get(
          pool.id,
          p,
          toHex(pool.family, network),
        )
      ) {
        return this.split(pool, { family: pool.family, network, prefix: p }, want.prefix, want);
      }
    }
    throw msg.alreadyAllocated(formatCidr(want), pool);
  }

  private split(pool: Pool, free: Block, prefix: number, target?: Block): Block {
    const { taken, remainders } = splitDown(free, prefix, target);
    this.deleteFree(pool.id, free);
    for (const r of remainders) this.insertFree(pool.id, r);
    return taken;
  }

  private insertFree(poolId: number, b: Block): void {
    this.sql("INSERT INTO free_blocks (pool_id, prefix_len, network_hex) VALUES (?, ?, ?)").run(
      poolId,
      b.prefix,
      toHex(b.family, b.network),
    );
  }

  private deleteFree(poolId: number, b: Block): boolean {
    return (
      this.sql("DELETE FROM free_blocks WHERE pool_id = ? AND prefix_len = ? AND network_hex = ?").run(
        poolId,
        b.prefix,
        toHex(b.family, b.network),
      ).changes > 0
    );
  }

  private reservation(id: string): Reservation | undefined {
    const row = this.sql(`${RESERVATION_SELECT} WHERE r.id = ?`).get(id) as ReservationRow | undefined;
    return row && toReservation(row);
  }

  async getReservation(id: string): Promise<Reservation | undefined> {
    return this.reservation(id);
  }

  async listReservations(filter: ReservationFilter = {}): Promise<Reservation[]> {
    const rows = this.sql(
      `${RESERVATION_SELECT}
       WHERE (@project IS NULL OR r.project = @project) AND (@pool IS NULL OR p.name = @pool)
         AND (@owner IS NULL OR r.owner = @owner)
       ORDER BY p.name, r.start_hex`,
    ).all({ project: filter.project ?? null, pool: filter.pool ?? null, owner: filter.owner ?? null });
    return (rows as ReservationRow[]).map(toReservation);
  }

  async updateReservation(
    id: string,
    change: { tags: string[]; description: string | null },
    actor: string,
  ): Promise<Reservation> {
    checkLabels(change);
    return this.write(() => {
      const info = this.sql(
        "UPDATE reservations SET tags = ?, description = ?, updated_at = ? WHERE id = ?",
      ).run(JSON.stringify(change.tags), change.description, now(), id);
      if (info.changes === 0) throw msg.reservationMissing(id);
      this.event(actor, "reservation.update", id, change);
      return this.reservation(id)!;
    });
  }

  async release(id: string, actor: string): Promise<boolean> {
    return this.write(() => {
      const row = this.sql(
        `SELECT r.start_hex, r.prefix_len, r.cidr, r.owner, r.created_by, r.created_at, p.id AS pool_id, p.family,
                p.prefix_len AS pool_prefix
         FROM reservations r JOIN pools p ON p.id = r.pool_id WHERE r.id = ?`,
      ).get(id) as
        | {
            start_hex: string;
            prefix_len: number;
            cidr: string;
            owner: string | null;
            created_by: string;
            created_at: string;
            pool_id: number;
            family: 4 | 6;
            pool_prefix: number;
          }
        | undefined;
      if (!row) return false;
      const servers = this.sql(
        "SELECT DISTINCT server FROM assignments WHERE reservation_id = ? ORDER BY server",
      ).all(id) as { server: string }[];
      if (servers.length)
        throw msg.reservationInUse(
          id,
          row.cidr,
          servers.map((s) => s.server),
        );
      this.sql("DELETE FROM reservations WHERE id = ?").run(id);
      const merged = mergeUp(
        { family: row.family, network: fromHex(row.start_hex), prefix: row.prefix_len },
        row.pool_prefix,
        (buddy) => this.deleteFree(row.pool_id, buddy),
      );
      this.insertFree(row.pool_id, merged);
      // The row goes, so its creation record moves into the event.
      this.event(actor, "reservation.release", id, {
        cidr: row.cidr,
        owner: row.owner,
        createdBy: row.created_by,
        createdAt: row.created_at,
      });
      return true;
    });
  }

  async assign(
    reservationId: string,
    request: AssignmentRequest,
    server: string,
    actor: string,
  ): Promise<Assignment> {
    return this.write(() => this.assignIn(reservationId, request, server, actor));
  }

  private assignmentsOf(reservationId: string): Assignment[] {
    return (
      this.sql("SELECT * FROM assignments WHERE reservation_id = ? ORDER BY start_hex").all(
        reservationId,
      ) as AssignmentRow[]
    ).map(toAssignment);
  }

  private assignIn(
    reservationId: string,
    request: AssignmentRequest,
    server: string,
    actor: string,
  ): Assignment {
    const reservation = this.reservation(reservationId);
    if (!reservation) throw msg.reservationMissing(reservationId);
    const block = parseCidr(reservation.cidr);
    const taken = (
      this.sql("SELECT cidr FROM assignments WHERE reservation_id = ? ORDER BY start_hex").all(
        reservationId,
      ) as {
        cidr: string;
      }[]
    ).map((r) => parseCidr(r.cidr));
    const want = "cidr" in request ? { block: parseCidr(request.cidr) } : request;
    const chosen = pickAssignment(block, taken, want);
    const id = newId();
    this.sql(
      `INSERT INTO assignments (id, reservation_id, cidr, start_hex, end_hex, server, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      id,
      reservationId,
      formatCidr(chosen),
      toHex(chosen.family, chosen.network),
      toHex(chosen.family, lastAddress(chosen)),
      server,
      now(),
    );
    this.event(actor, "assignment.create", id, {
      reservation: reservationId,
      cidr: formatCidr(chosen),
      server,
    });
    return toAssignment(this.sql("SELECT * FROM assignments WHERE id = ?").get(id) as AssignmentRow);
  }

  async unassign(id: string, actor: string): Promise<boolean> {
    return this.write(() => {
      const gone = this.sql("DELETE FROM assignments WHERE id = ?").run(id).changes > 0;
      if (gone) this.event(actor, "assignment.remove", id);
      return gone;
    });
  }

  async listAssignments(filter: { reservationId?: string; server?: string }): Promise<Assignment[]> {
    const rows = this.sql(
      `SELECT * FROM assignments WHERE (@r IS NULL OR reservation_id = @r) AND (@s IS NULL OR server = @s)
       ORDER BY reservation_id, start_hex`,
    ).all({ r: filter.reservationId ?? null, s: filter.server ?? null }) as AssignmentRow[];
    return rows.map(toAssignment);
  }

  /** Runs a shared operation (inventory-sql.ts) synchronously on this connection. */
  private runOp<T>(op: Op<T>): T {
    let step = op.next();
    while (!step.done) {
      const { sql, params } = step.value;
      const statement = this.sql(sql);
      const result = statement.reader
        ? { rows: statement.all(...params) as Record<string, unknown>[], changes: 0 }
        : { rows: [], changes: statement.run(...params).changes };
      step = op.next(result);
    }
    return step.value;
  }

  async transact<T>(op: (at: string) => Op<T>, mode: "read" | "write" = "write"): Promise<T> {
    return mode === "write"
      ? this.write(() => this.runOp(op(now())))
      : this.read(() => this.runOp(op(now())));
  }

  async inventory(): Promise<InventoryState> {
    // One read transaction: the lists agree with each other.
    return this.read(() => this.runOp(readInventory()));
  }

  async applyInventory(
    changes: InventoryChange[],
    actor: string,
    opts: { rollback?: boolean } = {},
  ): Promise<void> {
    await this.write(() => {
      this.runOp(applyInventory(changes, actor, now()));
      if (opts.rollback) throw new RolledBack();
    }).catch((e: unknown) => {
      if (!(e instanceof RolledBack)) throw e;
    });
  }

  async getMachine(id: string): Promise<MachineRecord | undefined> {
    return this.runOp(readMachine(id));
  }

  async setMachineState(
    id: string,
    from: MachineState[],
    to: MachineState,
    reason: string | null,
    actor: string,
  ): Promise<MachineRecord> {
    return this.write(() => this.runOp(moveMachine(id, from, to, reason, actor, now())));
  }

  async events(limit = 100): Promise<StoreEvent[]> {
    const rows = this.sql(
      "SELECT at, actor, action, subject, detail FROM events ORDER BY id DESC LIMIT ?",
    ).all(limit) as (Omit<StoreEvent, "detail"> & { detail: string | null })[];
    return rows.map((r) => ({ ...r, detail: r.detail === null ? null : JSON.parse(r.detail) }));
  }

  /**
   * A hold is the write lock of a small SQLite file of its own beside the store (one per name):
   * BEGIN IMMEDIATE takes it, ROLLBACK gives it back, and the OS drops it with a process that
   * dies holding it. Nothing is written, so it costs no fsync; the store's own write lock stays
   * free for the holder's transactions. An in-memory store has no other process to hold against.
   */
  hold<T>(name: string, waitMs: number, fn: () => Promise<T>): Promise<T> {
    return this.holds.run(name, waitMs, fn);
  }

  private takeHold(name: string): boolean {
    if (this.file === ":memory:") return true;
    try {
      this.holdFile(name).exec("BEGIN IMMEDIATE");
      return true;
    } catch (e) {
      if (isBusy(e)) return false;
      throw e;
    }
  }

  private giveHold(name: string): void {
    // Closed with the store meanwhile: the lock went with the connection.
    const db = this.holdFiles.get(name);
    if (db?.open && db.inTransaction) db.exec("ROLLBACK");
  }

  private holdFile(name: string): Database.Database {
    let db = this.holdFiles.get(name);
    if (!db) {
      const dir = `${this.file}-holds`;
      fs.mkdirSync(dir, { recursive: true });
      // Readable, and distinct for names that read the same once made safe for a file name.
      const safe = name.replace(/[^A-Za-z0-9_.-]+/g, "_").slice(0, 64);
      const tag = createHash("sha256").update(name).digest("hex").slice(0, 8);
      // timeout 0: a taken hold is reported at once, and waited for between tries (Holds).
      db = new Database(path.join(dir, `${safe}-${tag}.lock`), { timeout: 0 });
      this.holdFiles.set(name, db);
    }
    return db;
  }

  async close(): Promise<void> {
    for (const w of this.watchers) w.close();
    this.watchers.clear();
    this.db.close();
    for (const db of this.holdFiles.values()) db.close();
    this.holdFiles.clear();
  }
}

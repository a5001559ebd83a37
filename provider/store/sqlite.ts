// The embedded store: one SQLite file, WAL, every commit flushed to disk (synchronous=FULL),
// because an allocation forgotten after a crash is a future duplicate.
import Database from "better-sqlite3";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Block, contains, formatCidr, fromHex, lastAddress, parseCidr, toHex } from "../ipam/cidr";
import { mergeUp, splitDown } from "../ipam/buddy";
import { IpamError } from "../ipam/errors";
import { checkFitsPool, checkNewPool, resolveRequest } from "../ipam/requests";
import { SQLITE_MIGRATIONS } from "./sqlite-schema";
import type {
  AllocateRequest,
  MigrationState,
  NewPool,
  Pool,
  PoolType,
  PoolUsage,
  Reservation,
  ReservationFilter,
  Store,
  StoreEvent,
} from "./store";

interface PoolRow {
  id: number;
  name: string;
  type: PoolType;
  family: 4 | 6;
  cidr: string;
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
  created_at: string;
  updated_at: string;
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
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const RESERVATION_SELECT = `
  SELECT r.id, p.name AS pool_name, p.type, p.facility, p.family, r.project, r.cidr, r.prefix_len,
         r.tags, r.description, r.owner, r.created_at, r.updated_at
  FROM reservations r JOIN pools p ON p.id = r.pool_id`;

const now = () => new Date().toISOString();

export class SqliteStore implements Store {
  private readonly db: Database.Database;

  constructor(readonly file: string) {
    if (file !== ":memory:") fs.mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = FULL");
    this.db.pragma("foreign_keys = ON");
    // Other processes (parallel `pulumi up`s, the CLI) write too; wait for them, do not fail.
    this.db.pragma("busy_timeout = 10000");
  }

  get location(): string {
    return `sqlite:${this.file}`;
  }

  async migrationState(): Promise<MigrationState> {
    this.db.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    );
    const applied = this.db
      .prepare("SELECT version, name, applied_at AS appliedAt FROM schema_migrations ORDER BY version")
      .all() as MigrationState["applied"];
    const done = new Set(applied.map((m) => m.version));
    const latest = SQLITE_MIGRATIONS[SQLITE_MIGRATIONS.length - 1]?.version ?? 0;
    return {
      current: applied.length ? applied[applied.length - 1]!.version : 0,
      latest,
      applied,
      pending: SQLITE_MIGRATIONS.filter((m) => !done.has(m.version)).map(({ version, name }) => ({
        version,
        name,
      })),
    };
  }

  async migrate(): Promise<MigrationState> {
    const state = await this.migrationState();
    if (state.current > state.latest) {
      throw new Error(
        `store ${this.location} is at schema version ${state.current}, newer than this pulumi-baremetal (${state.latest}); upgrade pulumi-baremetal`,
      );
    }
    for (const m of SQLITE_MIGRATIONS) {
      if (m.version <= state.current) continue;
      this.db
        .transaction(() => {
          // Another process may have applied it since we looked.
          if (this.db.prepare("SELECT 1 FROM schema_migrations WHERE version = ?").get(m.version)) return;
          this.db.exec(m.sql);
          this.db
            .prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)")
            .run(m.version, m.name, now());
        })
        .immediate();
    }
    return this.migrationState();
  }

  private event(actor: string, action: string, subject: string, detail?: unknown): void {
    this.db
      .prepare("INSERT INTO events (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)")
      .run(now(), actor, action, subject, detail === undefined ? null : JSON.stringify(detail));
  }

  private pools(): Pool[] {
    return (this.db.prepare("SELECT * FROM pools ORDER BY name").all() as PoolRow[]).map(toPool);
  }

  async addPool(pool: NewPool, actor: string): Promise<Pool> {
    return this.db
      .transaction(() => {
        const block = checkNewPool(pool, this.pools());
        const info = this.db
          .prepare(
            `INSERT INTO pools (name, type, family, cidr, network_hex, prefix_len, facility, project, description, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(
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
        this.db
          .prepare("INSERT INTO free_blocks (pool_id, prefix_len, network_hex) VALUES (?, ?, ?)")
          .run(info.lastInsertRowid, block.prefix, toHex(block.family, block.network));
        this.event(actor, "pool.add", pool.name, { cidr: formatCidr(block), type: pool.type });
        return toPool(
          this.db.prepare("SELECT * FROM pools WHERE id = ?").get(info.lastInsertRowid) as PoolRow,
        );
      })
      .immediate();
  }

  async listPools(): Promise<Pool[]> {
    return this.pools();
  }

  async getPool(name: string): Promise<Pool | undefined> {
    const row = this.db.prepare("SELECT * FROM pools WHERE name = ?").get(name) as PoolRow | undefined;
    return row && toPool(row);
  }

  async removePool(name: string, actor: string): Promise<void> {
    this.db
      .transaction(() => {
        const pool = this.db.prepare("SELECT * FROM pools WHERE name = ?").get(name) as PoolRow | undefined;
        if (!pool) throw new IpamError("PoolNotFound", `pool ${name} does not exist`);
        const used = this.db
          .prepare("SELECT count(*) AS n FROM reservations WHERE pool_id = ?")
          .get(pool.id) as {
          n: number;
        };
        if (used.n > 0) {
          throw new IpamError(
            "PoolInUse",
            `pool ${name} still has ${used.n} reservation(s); release them first`,
          );
        }
        this.db.prepare("DELETE FROM pools WHERE id = ?").run(pool.id);
        this.event(actor, "pool.remove", name);
      })
      .immediate();
  }

  async poolUsage(name: string): Promise<PoolUsage> {
    const pool = await this.getPool(name);
    if (!pool) throw new IpamError("PoolNotFound", `pool ${name} does not exist`);
    const bits = pool.family === 4 ? 32 : 128;
    const blocks = this.db
      .prepare(
        "SELECT prefix_len AS prefixLength, count(*) AS count FROM free_blocks WHERE pool_id = ? GROUP BY prefix_len ORDER BY prefix_len",
      )
      .all(pool.id) as { prefixLength: number; count: number }[];
    const free = blocks.reduce((sum, b) => sum + BigInt(b.count) * (1n << BigInt(bits - b.prefixLength)), 0n);
    const total = 1n << BigInt(bits - parseCidr(pool.cidr).prefix);
    const reservations = (
      this.db.prepare("SELECT count(*) AS n FROM reservations WHERE pool_id = ?").get(pool.id) as {
        n: number;
      }
    ).n;
    return {
      pool,
      total: total.toString(),
      allocated: (total - free).toString(),
      free: free.toString(),
      reservations,
      freeBlocks: blocks,
    };
  }

  async allocate(req: AllocateRequest): Promise<Reservation> {
    const resolved = resolveRequest(req.type, req.block);
    const what = resolved.kind === "exact" ? formatCidr(resolved.block) : `a /${resolved.prefix} block`;
    return this.db
      .transaction(() => {
        // Candidate pools: this type and facility, the project's own pools first.
        const pools = (
          this.db
            .prepare(
              `SELECT * FROM pools WHERE type = ? AND facility IS ? AND (project IS NULL OR project = ?)
               ORDER BY project IS NULL, name`,
            )
            .all(req.type, req.facility, req.project) as PoolRow[]
        ).map(toPool);
        const where = req.facility === null ? "global" : `facility ${req.facility}`;
        if (pools.length === 0) {
          throw new IpamError(
            "PoolNotFound",
            `no ${req.type} pool in ${where} serves project ${req.project}; add one with \`baremetal ipam pool add\``,
          );
        }
        const adopted = this.adoptInterrupted(req, pools, resolved);
        if (adopted) return adopted;
        let taken: { pool: Pool; block: Block } | undefined;
        if (resolved.kind === "exact") {
          const pool = pools.find((p) => contains(parseCidr(p.cidr), resolved.block));
          if (!pool) {
            throw new IpamError(
              "InvalidRequest",
              `${what} is not inside any ${req.type} pool in ${where} (pools: ${pools.map((p) => `${p.name} ${p.cidr}`).join(", ")})`,
            );
          }
          taken = { pool, block: this.takeExact(pool, resolved.block) };
        } else {
          for (const pool of pools) {
            checkFitsPool(pool, resolved.prefix, what);
            const block = this.takeBestFit(pool, resolved.prefix);
            if (block) {
              taken = { pool, block };
              break;
            }
          }
          if (!taken) {
            throw new IpamError(
              "NoSpaceLeft",
              `no ${req.type} /${resolved.prefix} block is free in ${where} for project ${req.project}: pool(s) ${pools.map((p) => `${p.name} ${p.cidr}`).join(", ")} have no room at that size`,
            );
          }
        }
        const { pool, block } = taken;
        const id = randomUUID();
        const at = now();
        this.db
          .prepare(
            `INSERT INTO reservations (id, pool_id, project, cidr, start_hex, end_hex, prefix_len, tags, description, owner, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(
            id,
            pool.id,
            req.project,
            formatCidr(block),
            toHex(block.family, block.network),
            toHex(block.family, lastAddress(block)),
            block.prefix,
            JSON.stringify(req.tags),
            req.description,
            req.owner,
            at,
            at,
          );
        this.event(req.actor, "reservation.create", id, {
          pool: pool.name,
          cidr: formatCidr(block),
          owner: req.owner,
        });
        return this.reservation(id)!;
      })
      .immediate();
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
    resolved: ReturnType<typeof resolveRequest>,
  ): Reservation | undefined {
    if (req.owner === null) return undefined;
    const candidates = (
      this.db
        .prepare(`${RESERVATION_SELECT} WHERE r.owner = ? AND r.project = ?`)
        .all(req.owner, req.project) as ReservationRow[]
    ).map(toReservation);
    const match = candidates.find(
      (r) =>
        pools.some((p) => p.name === r.poolName) &&
        (resolved.kind === "exact"
          ? r.cidr === formatCidr(resolved.block)
          : r.prefixLength === resolved.prefix),
    );
    if (!match) return undefined;
    const id = randomUUID();
    this.db
      .prepare("UPDATE reservations SET id = ?, tags = ?, description = ?, updated_at = ? WHERE id = ?")
      .run(id, JSON.stringify(req.tags), req.description, now(), match.id);
    this.event(req.actor, "reservation.adopt", id, {
      previousId: match.id,
      owner: req.owner,
      cidr: match.cidr,
    });
    return this.reservation(id);
  }

  private takeBestFit(pool: Pool, prefix: number): Block | undefined {
    const row = this.db
      .prepare(
        `SELECT prefix_len, network_hex FROM free_blocks WHERE pool_id = ? AND prefix_len <= ?
         ORDER BY prefix_len DESC, network_hex LIMIT 1`,
      )
      .get(pool.id, prefix) as { prefix_len: number; network_hex: string } | undefined;
    if (!row) return undefined;
    const free: Block = { family: pool.family, network: fromHex(row.network_hex), prefix: row.prefix_len };
    return this.split(pool, free, prefix);
  }

  private takeExact(pool: Pool, want: Block): Block {
    const find = this.db.prepare(
      "SELECT 1 FROM free_blocks WHERE pool_id = ? AND prefix_len = ? AND network_hex = ?",
    );
    const poolPrefix = parseCidr(pool.cidr).prefix;
    for (let p = want.prefix; p >= poolPrefix; p--) {
      const size = 1n << BigInt((pool.family === 4 ? 32 : 128) - p);
      const network = want.network - (want.network % size);
      if (find.get(pool.id, p, toHex(pool.family, network))) {
        return this.split(pool, { family: pool.family, network, prefix: p }, want.prefix, want);
      }
    }
    throw new IpamError(
      "AlreadyAllocated",
      `${formatCidr(want)} in pool ${pool.name} (${pool.cidr}) is already allocated, in whole or in part`,
    );
  }

  private split(pool: Pool, free: Block, prefix: number, target?: Block): Block {
    const { taken, remainders } = splitDown(free, prefix, target);
    this.db
      .prepare("DELETE FROM free_blocks WHERE pool_id = ? AND prefix_len = ? AND network_hex = ?")
      .run(pool.id, free.prefix, toHex(free.family, free.network));
    const insert = this.db.prepare(
      "INSERT INTO free_blocks (pool_id, prefix_len, network_hex) VALUES (?, ?, ?)",
    );
    for (const r of remainders) insert.run(pool.id, r.prefix, toHex(r.family, r.network));
    return taken;
  }

  private reservation(id: string): Reservation | undefined {
    const row = this.db.prepare(`${RESERVATION_SELECT} WHERE r.id = ?`).get(id) as ReservationRow | undefined;
    return row && toReservation(row);
  }

  async getReservation(id: string): Promise<Reservation | undefined> {
    return this.reservation(id);
  }

  async listReservations(filter: ReservationFilter = {}): Promise<Reservation[]> {
    const rows = this.db
      .prepare(
        `${RESERVATION_SELECT}
         WHERE (@project IS NULL OR r.project = @project) AND (@pool IS NULL OR p.name = @pool)
           AND (@owner IS NULL OR r.owner = @owner)
         ORDER BY p.name, r.start_hex`,
      )
      .all({ project: filter.project ?? null, pool: filter.pool ?? null, owner: filter.owner ?? null });
    return (rows as ReservationRow[]).map(toReservation);
  }

  async updateReservation(
    id: string,
    change: { tags: string[]; description: string | null },
    actor: string,
  ): Promise<Reservation> {
    return this.db
      .transaction(() => {
        const info = this.db
          .prepare("UPDATE reservations SET tags = ?, description = ?, updated_at = ? WHERE id = ?")
          .run(JSON.stringify(change.tags), change.description, now(), id);
        if (info.changes === 0)
          throw new IpamError("ReservationNotFound", `reservation ${id} does not exist`);
        this.event(actor, "reservation.update", id, change);
        return this.reservation(id)!;
      })
      .immediate();
  }

  async release(id: string, actor: string): Promise<boolean> {
    return this.db
      .transaction(() => {
        const row = this.db
          .prepare(
            `SELECT r.start_hex, r.prefix_len, r.cidr, p.id AS pool_id, p.family, p.prefix_len AS pool_prefix
             FROM reservations r JOIN pools p ON p.id = r.pool_id WHERE r.id = ?`,
          )
          .get(id) as
          | {
              start_hex: string;
              prefix_len: number;
              cidr: string;
              pool_id: number;
              family: 4 | 6;
              pool_prefix: number;
            }
          | undefined;
        if (!row) return false;
        this.db.prepare("DELETE FROM reservations WHERE id = ?").run(id);
        const del = this.db.prepare(
          "DELETE FROM free_blocks WHERE pool_id = ? AND prefix_len = ? AND network_hex = ?",
        );
        const merged = mergeUp(
          { family: row.family, network: fromHex(row.start_hex), prefix: row.prefix_len },
          row.pool_prefix,
          (buddy) => del.run(row.pool_id, buddy.prefix, toHex(buddy.family, buddy.network)).changes > 0,
        );
        this.db
          .prepare("INSERT INTO free_blocks (pool_id, prefix_len, network_hex) VALUES (?, ?, ?)")
          .run(row.pool_id, merged.prefix, toHex(merged.family, merged.network));
        this.event(actor, "reservation.release", id, { cidr: row.cidr });
        return true;
      })
      .immediate();
  }

  async events(limit = 100): Promise<StoreEvent[]> {
    const rows = this.db
      .prepare("SELECT at, actor, action, subject, detail FROM events ORDER BY id DESC LIMIT ?")
      .all(limit) as (Omit<StoreEvent, "detail"> & { detail: string | null })[];
    return rows.map((r) => ({ ...r, detail: r.detail === null ? null : JSON.parse(r.detail) }));
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

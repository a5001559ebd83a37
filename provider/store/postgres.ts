// The store for teams: PostgreSQL through node-postgres. Allocation and release are one call
// each to a server-side function (one round trip, one transaction); commits are durable
// (synchronous_commit=on, the server default, is required and checked on open).
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import { newId } from "./ids";
import { Client, Pool as PgPool, type PoolClient, DatabaseError } from "pg";
import { pickAssignment } from "../ipam/assign";
import { formatAddress, formatCidr, parseCidr } from "../ipam/cidr";
import * as msg from "../ipam/messages";
import { checkFacilityCode, checkLabels, checkNewPool, resolveRequest } from "../ipam/requests";
import { AccessError } from "../access/errors";
import { ACCESS_DENIED } from "./postgres-access";
import { INVENTORY_LOCK, NAMED_HOLD, POOL_HOLD, POSTGRES_MIGRATIONS } from "./postgres-schema";
import { Holds } from "./hold";
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
import { RolledBack, hostAssignment, newReservation, poolTypeFamily } from "./store";

const MIGRATION_LOCK = 7300;

interface PoolRow {
  id: number;
  name: string;
  type: PoolType;
  family: number;
  cidr: string;
  facility: string | null;
  project: string | null;
  description: string | null;
  created_at: Date;
}

interface ReservationRow {
  id: string;
  pool_name: string;
  type: PoolType;
  facility: string | null;
  family: number;
  project: string;
  cidr: string;
  prefix_len: number;
  tags: string[];
  description: string | null;
  owner: string | null;
  created_by: string;
  created_at: Date;
  updated_at: Date;
}

/**
 * The common allocation as one planned statement: in the first pool (by priority) large
 * enough, the best-fitting free block no one else holds, taken apart down to the asked size,
 * and the reservation, in one round trip and one transaction. It yields no row, and
 * bm_allocate (which goes on to the next pools, waits for held blocks, adopts an interrupted
 * create of the same owner, and names every refusal) takes over when that pool has no such
 * block (a later pool is never taken while the first one's blocks are only held). Asking
 * whether a pool has any fitting block first cost a fifth of the single-client rate. Prepared once per
 * connection; a function would be planned on every call (SQL) or add an interpreter (PL/pgSQL).
 * It holds the pool shared with a try-lock: a pool being removed is skipped here, and
 * bm_allocate then waits for the removal and finds the pool gone.
 *
 * Kept to as few plan nodes as it can be: the server sets up every node on every call, which
 * was a fifth of its CPU per allocation. So the picked row is deleted by its ctid (a TID scan,
 * not a second index descent), owned requests are not its (see allocate),
 * and the reservation's INSERT is the statement itself. The pool's name comes from the
 * client's cache (a pool id never changes name); created_at comes back as epoch milliseconds,
 * which costs the client less to read than a timestamp.
 */
const FAST_ALLOCATE = `
  WITH taken AS (
    DELETE FROM free_blocks fb
    WHERE fb.ctid = (
      SELECT f.ctid FROM (
        SELECT p.id FROM pools p
        WHERE p.type = $3::text AND p.facility IS NOT DISTINCT FROM $4::text
          AND (p.project IS NULL OR p.project = $2::text) AND masklen(p.cidr) <= $5::int
          AND pg_try_advisory_xact_lock_shared(${POOL_HOLD}, p.id)
        ORDER BY p.project IS NULL, p.name COLLATE "C"
        LIMIT 1) p
      CROSS JOIN LATERAL (
        SELECT x.ctid FROM free_blocks x
        WHERE x.pool_id = p.id AND x.prefix_len <= $5::int
        ORDER BY x.prefix_len DESC, x.network LIMIT 1 FOR UPDATE SKIP LOCKED
      ) f)
    RETURNING fb.pool_id, fb.prefix_len, set_masklen(fb.network, $5::int)::cidr AS cidr
  ), split AS (
    INSERT INTO free_blocks (pool_id, prefix_len, network)
    SELECT t.pool_id, l, bm_buddy(set_masklen(t.cidr, l)::cidr)
    FROM taken t, generate_series(t.prefix_len + 1, $5::int) l
  )
  INSERT INTO reservations (id, pool_id, project, cidr, tags, description, owner, created_by)
  SELECT $1::uuid, t.pool_id, $2::text, t.cidr, $6::jsonb, $7::text, $8::text, $9::text FROM taken t
  RETURNING pool_id, cidr, (extract(epoch FROM created_at) * 1000)::float8 AS created_ms`;

interface FastRow {
  pool_id: number;
  cidr: string;
  created_ms: number;
}

// PostgreSQL prints addresses its own way; keep one spelling whichever backend answers.
// Its IPv4 CIDRs are already ours (four plain decimals and the length): only IPv6 is redone.
const normal = (cidr: string) => (cidr.includes(":") ? formatCidr(parseCidr(cidr)) : cidr);

const toPool = (r: PoolRow): Pool => ({
  id: r.id,
  name: r.name,
  type: r.type,
  family: r.family as 4 | 6,
  cidr: normal(r.cidr),
  facility: r.facility,
  project: r.project,
  description: r.description,
  createdAt: r.created_at.toISOString(),
});

const toReservation = (r: ReservationRow): Reservation => ({
  id: r.id,
  poolName: r.pool_name,
  type: r.type,
  facility: r.facility,
  project: r.project,
  cidr: normal(r.cidr),
  family: r.family as 4 | 6,
  prefixLength: r.prefix_len,
  tags: r.tags,
  description: r.description,
  owner: r.owner,
  createdBy: r.created_by,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

const toAssignment = (r: {
  id: string;
  reservation_id: string;
  cidr: string;
  server: string;
  created_at: Date;
}) => {
  const block = parseCidr(normal(r.cidr));
  return {
    id: r.id,
    reservationId: r.reservation_id,
    cidr: formatCidr(block),
    address: formatAddress(block.family, block.network),
    server: r.server,
    createdAt: r.created_at.toISOString(),
  } satisfies Assignment;
};

// Named statements (the fast allocation) are planned once per connection. With custom plans
// the server planned FAST_ALLOCATE again on every call, because its parameters made the
// generic plan look dearer: ~50 us of server CPU per allocation. Unnamed statements, all the
// store's others, are planned for their values whatever this says.
const GENERIC_PLANS = "-c plan_cache_mode=force_generic_plan";

/** The URL's own `options` (server settings sent at connect) with ours after them. */
function connectionWithOptions(url: string, ours: string): { connectionString: string; options: string } {
  const u = new URL(url);
  const theirs = u.searchParams.get("options");
  u.searchParams.delete("options"); // node-postgres lets the URL's options replace the config's
  return { connectionString: u.toString(), options: theirs ? `${theirs} ${ours}` : ours };
}

/**
 * PgBouncer's refusal of the server settings our connections send when they open (`options`:
 * plan_cache_mode), which by itself names nothing a user could act on. It refuses them unless
 * told to ignore them; and the store needs each of its connections to be one server session (a
 * hold is a lock on one, install reports are LISTENed for on one), which transaction pooling
 * does not give.
 */
function poolerRefused(e: unknown, location: string): Error | undefined {
  const m = /unsupported startup parameter: ?(\S*)/.exec(String((e as Error | undefined)?.message ?? e));
  if (!m) return undefined;
  return new Error(
    `the store ${location} refused the connection's startup parameter ${m[1] || "(unnamed)"}: a connection ` +
      "pooler stands in front of PostgreSQL (PgBouncer answers so). Connect to PostgreSQL directly, or set " +
      "`ignore_startup_parameters = options` and `pool_mode = session` in PgBouncer's [pgbouncer] section: " +
      "the store keeps switch holds and waits for install reports on connections of its own, which " +
      "transaction pooling does not keep",
    { cause: e },
  );
}

// Ids as we write them, lower case: the uuid type would also take upper case, which SQLite's
// text ids do not, and the backends must answer alike.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class PostgresStore implements Store {
  private readonly pool: PgPool;
  /** Whether this login may run FAST_ALLOCATE itself (operators), or only bm_allocate. */
  private fastAllocate = true;
  private readonly poolNames = new Map<number, string>();
  private login?: Promise<string | undefined>;
  /** Store.hold: one connection of its own for every hold, and this process's holders one at a time. */
  private holder?: Promise<Client>;
  private readonly holds: Holds;
  /** The holds this process has now, and those it lost with a connection and could not take back. */
  private readonly held = new Set<string>();
  private readonly lostHolds = new Set<string>();
  private readonly watches = new Set<() => Promise<void>>();

  constructor(
    private readonly url: string,
    opts: { maxConnections?: number } = {},
  ) {
    this.pool = new PgPool({
      ...connectionWithOptions(url, GENERIC_PLANS),
      max: opts.maxConnections ?? 4,
      connectionTimeoutMillis: 10_000,
    });
    // An idle connection dropped by the server must not crash the process.
    this.pool.on("error", () => undefined);
    this.holds = new Holds(
      { take: (n) => this.takeHold(n), give: (n) => this.giveHold(n), lost: (n) => this.lostHolds.has(n) },
      this.location,
    );
  }

  get location(): string {
    const u = new URL(this.url);
    u.password = "";
    return u.toString();
  }

  /** A member's login acts as itself; operators (owner, superuser) act as baremetal:actor. */
  identity(): Promise<string | undefined> {
    this.login ??= this.pool
      .query<{ login: string; operator: boolean }>(
        "SELECT session_user AS login, bm_is_operator() AS operator",
      )
      .then(({ rows }) => (rows[0]!.operator ? undefined : rows[0]!.login))
      // Not initialised yet (bm_is_operator comes with migration 8): there are no member logins,
      // and whoever connects is setting the store up.
      .catch((e: { code?: string }) => {
        if (e.code === "42883") return undefined;
        throw e;
      });
    return this.login;
  }

  /**
   * Creates (or re-passwords) a user's database login; run as an operator. The server is sent
   * the password's SCRAM verifier, never the password: DDL lands in the server's log (with
   * log_statement=ddl, or when it fails), as `psql \password` knows.
   */
  async addLogin(user: string, password: string): Promise<void> {
    const c = await this.pool.connect();
    try {
      const role = (await c.query<{ q: string }>("SELECT quote_ident($1) AS q", [user])).rows[0]!.q;
      const exists = (await c.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [user])).rowCount === 1;
      // Identifiers are quoted by the server itself: DDL takes no parameters. The verifier is
      // base64 and digits only.
      await c.query(
        `${exists ? "ALTER" : "CREATE"} ROLE ${role} LOGIN PASSWORD '${scramVerifier(password)}'`,
      );
      await c.query(`GRANT baremetal_member TO ${role}`);
    } finally {
      c.release();
    }
  }

  private async tx<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    try {
      await c.query("BEGIN");
      const result = await fn(c);
      await c.query("COMMIT");
      return result;
    } catch (e) {
      await c.query("ROLLBACK").catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }

  async migrationState(): Promise<MigrationState> {
    // Reads only: CREATE TABLE IF NOT EXISTS is not safe against a concurrent one (two first
    // runs at once collide in pg_type), so the table is made under the migration lock.
    // The first query of every open (migrate and `store status` start here).
    const exists = await this.pool
      .query<{ t: string | null }>("SELECT to_regclass('schema_migrations') AS t")
      .catch((e: unknown) => {
        throw poolerRefused(e, this.location) ?? e;
      });
    if (!exists.rows[0]?.t) return migrationState([], POSTGRES_MIGRATIONS);
    const { rows } = await this.pool.query<{ version: number; name: string; applied_at: Date }>(
      "SELECT version, name, applied_at FROM schema_migrations ORDER BY version",
    );
    const applied = rows.map((r) => ({
      version: r.version,
      name: r.name,
      appliedAt: r.applied_at.toISOString(),
    }));
    return migrationState(applied, POSTGRES_MIGRATIONS);
  }

  async migrate(): Promise<MigrationState> {
    const state = await this.migrationState();
    refuseNewer(state, this.location);
    const { rows } = await this.pool.query<{ synchronous_commit: string }>("SHOW synchronous_commit");
    if (rows[0]?.synchronous_commit === "off") {
      throw new Error(
        `store ${this.location} has synchronous_commit=off: allocations could be lost in a crash`,
      );
    }
    if (state.pending.length === 0) return state;
    await this.tx(async (c) => {
      // Concurrent first runs of many stacks: one migrates, the others wait and find it done.
      await c.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
      await c.query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
      );
      const { rows: done } = await c.query<{ version: number }>("SELECT version FROM schema_migrations");
      const have = new Set(done.map((r) => r.version));
      for (const m of POSTGRES_MIGRATIONS) {
        if (have.has(m.version)) continue;
        await c.query(m.sql);
        await c.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [m.version, m.name]);
      }
    });
    return this.migrationState();
  }

  private async event(c: PoolClient, actor: string, action: string, subject: string, detail?: unknown) {
    await c.query("INSERT INTO events (actor, action, subject, detail) VALUES ($1, $2, $3, $4)", [
      actor,
      action,
      subject,
      detail === undefined ? null : JSON.stringify(detail),
    ]);
  }

  async ensureFacility(code: string, name: string | null, actor: string): Promise<Facility> {
    checkFacilityCode(code);
    return this.tx(async (c) => {
      const ins = await c.query(
        "INSERT INTO facilities (code, name) VALUES ($1, $2) ON CONFLICT (code) DO NOTHING",
        [code, name],
      );
      if (ins.rowCount) await this.event(c, actor, "facility.add", code);
      const { rows } = await c.query<{ code: string; name: string | null; created_at: Date }>(
        "SELECT * FROM facilities WHERE code = $1",
        [code],
      );
      return { code: rows[0]!.code, name: rows[0]!.name, createdAt: rows[0]!.created_at.toISOString() };
    });
  }

  async listFacilities(): Promise<Facility[]> {
    const { rows } = await this.pool.query<{ code: string; name: string | null; created_at: Date }>(
      "SELECT * FROM facilities ORDER BY code",
    );
    return rows.map((r) => ({ code: r.code, name: r.name, createdAt: r.created_at.toISOString() }));
  }

  async addPool(pool: NewPool, actor: string): Promise<Pool> {
    try {
      return await this.tx(async (c) => {
        // Serialize pool changes, so the overlap check sees every committed pool.
        await c.query("LOCK TABLE pools IN SHARE ROW EXCLUSIVE MODE");
        const existing = (await c.query<PoolRow>('SELECT * FROM pools ORDER BY name COLLATE "C"')).rows.map(
          toPool,
        );
        const block = checkNewPool(pool, existing);
        if (pool.facility !== null) {
          const f = await c.query("SELECT 1 FROM facilities WHERE code = $1", [pool.facility]);
          if (!f.rowCount) throw msg.facilityMissing(pool.facility);
        }
        const { rows } = await c.query<PoolRow>(
          `INSERT INTO pools (name, type, family, cidr, facility, project, description)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
          [
            pool.name,
            pool.type,
            block.family,
            formatCidr(block),
            pool.facility,
            pool.project,
            pool.description ?? null,
          ],
        );
        await c.query("INSERT INTO free_blocks (pool_id, prefix_len, network) VALUES ($1, $2, $3)", [
          rows[0]!.id,
          block.prefix,
          formatCidr(block),
        ]);
        await this.event(c, actor, "pool.add", pool.name, { cidr: formatCidr(block), type: pool.type });
        return toPool(rows[0]!);
      });
    } catch (e) {
      throw this.translate(e);
    }
  }

  async listPools(): Promise<Pool[]> {
    return (await this.pool.query<PoolRow>('SELECT * FROM pools ORDER BY name COLLATE "C"')).rows.map(toPool);
  }

  async getPool(name: string): Promise<Pool | undefined> {
    const { rows } = await this.pool.query<PoolRow>("SELECT * FROM pools WHERE name = $1", [name]);
    return rows[0] && toPool(rows[0]);
  }

  async describePool(name: string, description: string | null, actor: string): Promise<Pool> {
    return this.tx(async (c) => {
      const { rows } = await c.query<PoolRow>(
        "UPDATE pools SET description = $2 WHERE name = $1 RETURNING *",
        [name, description],
      );
      if (!rows[0]) throw msg.poolMissing(name);
      await this.event(c, actor, "pool.describe", name, { description });
      return toPool(rows[0]);
    });
  }

  async removePool(name: string, actor: string): Promise<void> {
    await this.tx(async (c) => {
      const { rows } = await c.query<PoolRow>("SELECT * FROM pools WHERE name = $1 FOR UPDATE", [name]);
      if (!rows[0]) throw msg.poolMissing(name);
      // No foreign key ties blocks to their pool (see migration 5). Holding the pool waits for
      // allocations and releases in flight, whose rows the count below then sees; later ones
      // wait for this transaction and then find the pool and its free blocks gone.
      await c.query("SELECT pg_advisory_xact_lock($1, $2)", [POOL_HOLD, rows[0].id]);
      await c.query("DELETE FROM free_blocks WHERE pool_id = $1", [rows[0].id]);
      const used = await c.query<{ n: string }>("SELECT count(*) AS n FROM reservations WHERE pool_id = $1", [
        rows[0].id,
      ]);
      const n = Number(used.rows[0]!.n);
      if (n > 0) throw msg.poolInUse(name, n);
      await c.query("DELETE FROM pools WHERE id = $1", [rows[0].id]);
      await this.event(c, actor, "pool.remove", name);
    });
  }

  async poolUsage(name: string): Promise<PoolUsage> {
    const c = await this.pool.connect();
    try {
      // One snapshot, so the counts agree with each other.
      await c.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      const { rows } = await c.query<PoolRow>("SELECT * FROM pools WHERE name = $1", [name]);
      if (!rows[0]) throw msg.poolMissing(name);
      const pool = toPool(rows[0]);
      const bits = pool.family === 4 ? 32 : 128;
      const free = await c.query<{ prefix_len: number; count: string }>(
        "SELECT prefix_len, count(*) AS count FROM free_blocks WHERE pool_id = $1 GROUP BY prefix_len ORDER BY prefix_len",
        [pool.id],
      );
      const held = await c.query<{ prefix_len: number; count: string }>(
        "SELECT masklen(cidr) AS prefix_len, count(*) AS count FROM reservations WHERE pool_id = $1 GROUP BY 1",
        [pool.id],
      );
      await c.query("COMMIT");
      const sum = (rs: { prefix_len: number; count: string }[]) =>
        rs.reduce((s, r) => s + (BigInt(r.count) << BigInt(bits - r.prefix_len)), 0n);
      return {
        pool,
        total: (1n << BigInt(bits - parseCidr(pool.cidr).prefix)).toString(),
        allocated: sum(held.rows).toString(),
        free: sum(free.rows).toString(),
        reservations: held.rows.reduce((s, r) => s + Number(r.count), 0),
        freeBlocks: free.rows.map((r) => ({ prefixLength: r.prefix_len, count: Number(r.count) })),
      };
    } catch (e) {
      await c.query("ROLLBACK").catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }

  async listFreeBlocks(name: string): Promise<string[]> {
    const { rows } = await this.pool.query<{ network: string; found: boolean }>(
      `SELECT f.network, true AS found FROM pools p JOIN free_blocks f ON f.pool_id = p.id WHERE p.name = $1
       UNION ALL SELECT NULL, false WHERE NOT EXISTS (SELECT 1 FROM pools WHERE name = $1)
       ORDER BY 1`,
      [name],
    );
    if (rows.length === 1 && !rows[0]!.found) throw msg.poolMissing(name);
    return rows.map((r) => normal(r.network));
  }

  /** A pool's name by id: ids are never reused and pools are never renamed, so it is cached. */
  private async poolName(id: number): Promise<string> {
    let name = this.poolNames.get(id);
    if (name === undefined) {
      const { rows } = await this.pool.query<{ name: string }>("SELECT name FROM pools WHERE id = $1", [id]);
      // Just allocated from it, under its hold: it is there.
      name = rows[0]!.name;
      this.poolNames.set(id, name);
    }
    return name;
  }

  async allocate(req: AllocateRequest): Promise<Reservation> {
    checkLabels(req);
    const resolved = resolveRequest(req.type, req.block);
    const id = newId();
    const tags = JSON.stringify(req.tags);
    try {
      // An owned request (a resource's, which an interrupted run may have made already) goes to
      // bm_allocate: it takes the owner's lock and then looks for the owner's reservation in a
      // later statement. In one statement the check's snapshot would predate the lock, and two
      // creates of one owner could both reserve.
      if (resolved.kind === "size" && this.fastAllocate && req.owner === null) {
        const { rows } = await this.pool
          .query<FastRow>({
            name: "bm_allocate_fast",
            text: FAST_ALLOCATE,
            values: [
              id,
              req.project,
              req.type,
              req.facility,
              resolved.prefix,
              tags,
              req.description,
              req.owner,
              req.actor,
            ],
          })
          .catch((e: unknown) => {
            // A member login may not touch free_blocks: the checked function does it for them.
            if (!(e instanceof DatabaseError && e.code === "42501")) throw e;
            this.fastAllocate = false;
            return { rows: [] as FastRow[] };
          });
        const r = rows[0];
        if (r) {
          return newReservation(
            req,
            {
              id,
              poolName: await this.poolName(r.pool_id),
              type: req.type,
              facility: req.facility, // the pool's: the statement matched them
              cidr: normal(r.cidr),
              family: poolTypeFamily(req.type),
              prefixLength: resolved.prefix,
            },
            new Date(r.created_ms).toISOString(),
          );
        }
      }
      const { rows } = await this.pool.query<ReservationRow>({
        // Named: the server parses and plans it once per connection.
        name: "bm_allocate",
        text: "SELECT * FROM bm_allocate($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        values: [
          id,
          req.project,
          req.type,
          req.facility,
          resolved.kind === "size" ? resolved.prefix : null,
          resolved.kind === "exact" ? formatCidr(resolved.block) : null,
          tags,
          req.description,
          req.owner,
          req.actor,
        ],
      });
      return toReservation(rows[0]!);
    } catch (e) {
      const what = resolved.kind === "exact" ? formatCidr(resolved.block) : undefined;
      throw this.translate(e, { req, prefix: resolved.kind === "size" ? resolved.prefix : undefined, what });
    }
  }

  /** Words the database's coded errors like every other backend does. */
  private translate(e: unknown, ctx?: { req: AllocateRequest; prefix?: number; what?: string }): unknown {
    if (!(e instanceof DatabaseError)) return e;
    const detail = (() => {
      try {
        return JSON.parse(e.detail ?? "null") as unknown;
      } catch {
        return null;
      }
    })();
    const pools = () =>
      (detail as { name: string; cidr: string }[]).map((p) => ({ name: p.name, cidr: normal(p.cidr) }));
    const pool = () => {
      const p = detail as { name: string; cidr: string };
      return { name: p.name, cidr: normal(p.cidr) };
    };
    const r = ctx?.req;
    switch (e.code) {
      case "BM001":
        return msg.noSpaceLeft(r!.type, ctx!.prefix!, r!.facility, r!.project, pools());
      case "BM002":
        return msg.alreadyAllocated(ctx!.what!, pool());
      case "BM003":
        return msg.noPool(r!.type, r!.facility, r!.project);
      case "BM004":
        return msg.notInsideAnyPool(ctx!.what!, r!.type, r!.facility, pools());
      case "BM005":
        return msg.largerThanPool(ctx!.prefix!, pool());
      case ACCESS_DENIED: {
        const d = detail as { user: string; project: string; role: string };
        return new AccessError(
          "AccessDenied",
          `${d.user} may not change IP reservations in project ${d.project}: the database requires the ${d.role} role or higher`,
        );
      }
      default:
        return e;
    }
  }

  async getReservation(id: string): Promise<Reservation | undefined> {
    if (!UUID.test(id)) return undefined;
    const { rows } = await this.pool.query<ReservationRow>("SELECT * FROM reservation_rows WHERE id = $1", [
      id,
    ]);
    return rows[0] && toReservation(rows[0]);
  }

  async listReservations(filter: ReservationFilter = {}): Promise<Reservation[]> {
    const { rows } = await this.pool.query<ReservationRow>(
      `SELECT * FROM reservation_rows
       WHERE ($1::text IS NULL OR project = $1) AND ($2::text IS NULL OR pool_name = $2) AND ($3::text IS NULL OR owner = $3)
       ORDER BY pool_name COLLATE "C", cidr`,
      [filter.project ?? null, filter.pool ?? null, filter.owner ?? null],
    );
    return rows.map(toReservation);
  }

  async updateReservation(
    id: string,
    change: { tags: string[]; description: string | null },
    actor: string,
  ): Promise<Reservation> {
    checkLabels(change);
    if (!UUID.test(id)) throw msg.reservationMissing(id);
    return this.tx(async (c) => {
      const u = await c.query(
        "UPDATE reservations SET tags = $1, description = $2, updated_at = now() WHERE id = $3",
        [JSON.stringify(change.tags), change.description, id],
      );
      if (!u.rowCount) throw msg.reservationMissing(id);
      await this.event(c, actor, "reservation.update", id, change);
      const { rows } = await c.query<ReservationRow>("SELECT * FROM reservation_rows WHERE id = $1", [id]);
      return toReservation(rows[0]!);
    });
  }

  async release(id: string, actor: string): Promise<boolean> {
    if (!UUID.test(id)) return false;
    try {
      const { rows } = await this.pool.query<{ cidr: string | null }>("SELECT bm_release($1, $2) AS cidr", [
        id,
        actor,
      ]);
      return rows[0]?.cidr !== null;
    } catch (e) {
      if (e instanceof DatabaseError && e.code === "BM009") {
        const d = JSON.parse(e.detail!) as { cidr: string; servers: string[] };
        throw msg.reservationInUse(id, normal(d.cidr), d.servers.sort());
      }
      // Worded as allocate words it: AccessDenied, not the database's code.
      if (e instanceof DatabaseError && e.code === ACCESS_DENIED) throw this.translate(e);
      throw e;
    }
  }

  async allocateHosts(requests: AllocateRequest[], server: string, actor: string): Promise<HostAddress[]> {
    const out: HostAddress[] = [];
    for (const req of requests) {
      const reservation = await this.allocate(req);
      out.push({ reservation, assignment: await hostAssignment(this, reservation, server, actor) });
    }
    return out;
  }

  async assign(
    reservationId: string,
    request: AssignmentRequest,
    server: string,
    actor: string,
  ): Promise<Assignment> {
    if (!UUID.test(reservationId)) throw msg.reservationMissing(reservationId);
    return this.tx(async (c) => {
      // Holding the reservation row serializes assignments within it.
      const res = await c.query<{ cidr: string }>("SELECT cidr FROM reservations WHERE id = $1 FOR UPDATE", [
        reservationId,
      ]);
      if (!res.rows[0]) throw msg.reservationMissing(reservationId);
      const taken = (
        await c.query<{ cidr: string }>(
          "SELECT cidr FROM assignments WHERE reservation_id = $1 ORDER BY cidr",
          [reservationId],
        )
      ).rows.map((r) => parseCidr(normal(r.cidr)));
      const want = "cidr" in request ? { block: parseCidr(request.cidr) } : request;
      const chosen = pickAssignment(parseCidr(normal(res.rows[0].cidr)), taken, want);
      const id = newId();
      const { rows } = await c.query(
        "INSERT INTO assignments (id, reservation_id, cidr, server) VALUES ($1, $2, $3, $4) RETURNING *",
        [id, reservationId, formatCidr(chosen), server],
      );
      await this.event(c, actor, "assignment.create", id, {
        reservation: reservationId,
        cidr: formatCidr(chosen),
        server,
      });
      return toAssignment(rows[0]);
    });
  }

  async unassign(id: string, actor: string): Promise<boolean> {
    if (!UUID.test(id)) return false;
    return this.tx(async (c) => {
      const d = await c.query("DELETE FROM assignments WHERE id = $1", [id]);
      if (d.rowCount) await this.event(c, actor, "assignment.remove", id);
      return !!d.rowCount;
    });
  }

  async listAssignments(filter: { reservationId?: string; server?: string }): Promise<Assignment[]> {
    if (filter.reservationId && !UUID.test(filter.reservationId)) return [];
    const { rows } = await this.pool.query(
      `SELECT * FROM assignments WHERE ($1::uuid IS NULL OR reservation_id = $1) AND ($2::text IS NULL OR server = $2)
       ORDER BY reservation_id, cidr`,
      [filter.reservationId ?? null, filter.server ?? null],
    );
    return rows.map(toAssignment);
  }

  /** Runs a shared operation (inventory-sql.ts) on one connection, ? placeholders numbered. */
  private async runOp<T>(c: PoolClient, op: Op<T>): Promise<T> {
    let step = op.next();
    while (!step.done) {
      let n = 0;
      const text = step.value.sql.replace(/\?/g, () => `$${++n}`);
      const res = await c.query(text, step.value.params);
      step = op.next({ rows: res.rows as Record<string, unknown>[], changes: res.rowCount ?? 0 });
    }
    return step.value;
  }

  async transact<T>(op: (at: string) => Op<T>, mode: "read" | "write" = "write"): Promise<T> {
    if (mode === "write") return this.tx((c) => this.runOp(c, op(new Date().toISOString())));
    const c = await this.pool.connect();
    try {
      return await this.runOp(c, op(new Date().toISOString()));
    } finally {
      c.release();
    }
  }

  async inventory(): Promise<InventoryState> {
    // REPEATABLE READ: one snapshot for all the lists.
    const c = await this.pool.connect();
    try {
      await c.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      const result = await this.runOp(c, readInventory());
      await c.query("COMMIT");
      return result;
    } catch (e) {
      await c.query("ROLLBACK").catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }

  async applyInventory(
    changes: InventoryChange[],
    actor: string,
    opts: { rollback?: boolean } = {},
  ): Promise<void> {
    await this.tx(async (c) => {
      // One inventory change at a time: each re-reads what it checks.
      await c.query("SELECT pg_advisory_xact_lock($1)", [INVENTORY_LOCK]);
      await this.runOp(c, applyInventory(changes, actor, new Date().toISOString()));
      if (opts.rollback) throw new RolledBack();
    }).catch((e: unknown) => {
      if (!(e instanceof RolledBack)) throw e;
    });
  }

  async getMachine(id: string): Promise<MachineRecord | undefined> {
    const c = await this.pool.connect();
    try {
      return await this.runOp(c, readMachine(id));
    } finally {
      c.release();
    }
  }

  async setMachineState(
    id: string,
    from: MachineState[],
    to: MachineState,
    reason: string | null,
    actor: string,
  ): Promise<MachineRecord> {
    return this.tx((c) => this.runOp(c, moveMachine(id, from, to, reason, actor, new Date().toISOString())));
  }

  async events(limit = 100): Promise<StoreEvent[]> {
    const { rows } = await this.pool.query<{
      at: Date;
      actor: string;
      action: string;
      subject: string;
      detail: unknown;
    }>("SELECT at, actor, action, subject, detail FROM events ORDER BY id DESC LIMIT $1", [limit]);
    return rows.map((r) => ({ ...r, at: r.at.toISOString() }));
  }

  /**
   * A hold is a session-level advisory lock on a connection kept for holds alone, outside the
   * pool: a hold outlasts transactions (it spans a switch's SSH session), and a pooled
   * connection kept that long would starve the store's queries. The server drops it when the
   * connection ends, so a process that dies holding it frees it. A connection lost during a
   * hold loses the lock with it: the holds it carried are taken again at once on a new one, and
   * one that cannot be (another process was quicker, or the server is away) fails its change
   * with HoldLost when the change ends, since it may have overlapped another's.
   */
  hold<T>(name: string, waitMs: number, fn: () => Promise<T>): Promise<T> {
    return this.holds.run(name, waitMs, fn);
  }

  private async takeHold(name: string): Promise<boolean> {
    const c = await this.holdConnection();
    const { rows } = await c.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok", [
      NAMED_HOLD,
      name,
    ]);
    if (rows[0]!.ok) this.held.add(name);
    return rows[0]!.ok;
  }

  private async giveHold(name: string): Promise<void> {
    this.held.delete(name);
    this.lostHolds.delete(name);
    // A lost connection took the lock with it: nothing to give back.
    const c = await this.holder?.catch(() => undefined);
    await c?.query("SELECT pg_advisory_unlock($1, hashtext($2))", [NAMED_HOLD, name]).catch(() => undefined);
  }

  /** After the hold connection was lost: takes its holds again on a new one. */
  private async retakeHolds(): Promise<void> {
    for (const name of [...this.held]) {
      let ok: boolean;
      try {
        const c = await this.holdConnection();
        const { rows } = await c.query<{ ok: boolean }>(
          "SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok",
          [NAMED_HOLD, name],
        );
        ok = rows[0]!.ok;
        // Given back while we asked: let go again (giveHold's unlock may have come first).
        if (ok && !this.held.has(name)) {
          await c.query("SELECT pg_advisory_unlock($1, hashtext($2))", [NAMED_HOLD, name]);
          continue;
        }
      } catch {
        ok = false;
      }
      if (!ok && this.held.has(name)) this.lostHolds.add(name);
    }
  }

  private holdConnection(): Promise<Client> {
    if (!this.holder) {
      const c = new Client({
        ...connectionWithOptions(this.url, GENERIC_PLANS),
        connectionTimeoutMillis: 10_000,
        // It sits idle through a hold: keepalives notice a dead peer the socket would not.
        keepAlive: true,
      });
      let connected = false;
      const opened = c.connect().then(() => {
        connected = true;
        return c;
      });
      const lost = () => {
        if (this.holder !== opened) return;
        this.holder = undefined;
        // Only a connection that was up carried holds: one that never came up starts no retry.
        if (connected && this.held.size > 0) void this.retakeHolds();
      };
      c.on("error", lost);
      c.on("end", lost);
      opened.catch(lost);
      this.holder = opened;
    }
    return this.holder;
  }

  /** One LISTEN connection per watch (migration 23 sends the notices). */
  async watchSessions(listener: SessionListener): Promise<(() => Promise<void>) | undefined> {
    const c = new Client({
      ...connectionWithOptions(this.url, GENERIC_PLANS),
      connectionTimeoutMillis: 10_000,
      // Idle between notices: keepalives notice a dead peer the socket would not.
      keepAlive: true,
    });
    let connected = false;
    let stopped = false;
    let live = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      this.watches.delete(stop);
      // Ending a client still connecting never settles; the connect below ends it once it is up.
      if (connected) await c.end().catch(() => undefined);
    };
    const lost = () => {
      if (stopped) return;
      void stop();
      // One that never came up is answered by the undefined below.
      if (live) listener.lost();
    };
    c.on("error", lost);
    c.on("end", lost);
    // Known to close() while it connects too, so a store closed meanwhile leaves no watch open.
    this.watches.add(stop);
    try {
      await c.connect();
      connected = true;
      if (stopped) throw new Error("the store was closed");
      await c.query("LISTEN bm_sessions");
    } catch {
      stopped = true;
      this.watches.delete(stop);
      if (connected) await c.end().catch(() => undefined);
      return undefined;
    }
    c.on("notification", () => listener.change());
    live = true;
    return stop;
  }

  async close(): Promise<void> {
    const holder = this.holder;
    this.holder = undefined;
    await Promise.all([
      this.pool.end(),
      holder?.then((c) => c.end()).catch(() => undefined),
      ...[...this.watches].map((stop) => stop()),
    ]);
  }
}

// RFC 4013 (SASLprep), as PostgreSQL applies it before hashing: non-ASCII spaces become a
// space, "commonly mapped to nothing" characters go, then NFKC.
const MAPPED_TO_NOTHING = new Set([
  0xad,
  0x34f,
  0x1806,
  0x180b,
  0x180c,
  0x180d,
  0x200b,
  0x200c,
  0x200d,
  0x2060,
  0xfeff,
  ...Array.from({ length: 16 }, (_, k) => 0xfe00 + k),
]);
const NON_ASCII_SPACE = /[\u00a0\u1680\u2000-\u200b\u202f\u205f\u3000]/g;

/** `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (RFC 5802, 7677), as PostgreSQL stores it. */
export function scramVerifier(password: string, salt = randomBytes(16), iterations = 4096): string {
  const prepared = [...password.replace(NON_ASCII_SPACE, " ")]
    .filter((ch) => !MAPPED_TO_NOTHING.has(ch.codePointAt(0)!))
    .join("")
    .normalize("NFKC");
  const salted = pbkdf2Sync(Buffer.from(prepared, "utf8"), salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  const b64 = (b: Buffer) => b.toString("base64");
  return `SCRAM-SHA-256$${iterations}:${b64(salt)}$${b64(storedKey)}:${b64(serverKey)}`;
}

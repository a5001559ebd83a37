// npm run bench:ipam: allocation throughput and latency of /29 blocks with 0, 10,000 and 100,000
// reservations already in the pool, on SQLite (one client) and PostgreSQL (one and eight
// clients). Every commit is durable: SQLite WAL with synchronous=FULL, PostgreSQL with
// synchronous_commit=on; both are read back and printed, with the rate of bare durable one-row
// commits on each (the ceiling no allocation can pass). Each level has a database of its own,
// and the runs go round the levels in turn; each figure is the median of BENCH_ROUNDS runs (3)
// from the same pool, each run started from a settled database. Prints one JSON document.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import Database from "better-sqlite3";
import { Client } from "pg";
import { openStore } from "../../provider/store/open";
import { SqliteStore } from "../../provider/store/sqlite";
import type { AllocateRequest, Store } from "../../provider/store/store";
import { startPostgres } from "../lab/postgres";

const LEVELS = (process.env.BENCH_LEVELS ?? "0,10000,100000").split(",").map(Number);
const BACKENDS = (process.env.BENCH_BACKENDS ?? "sqlite,postgres").split(",");
// 10,000 a run: in a run of 3,000 (half a second with eight clients) the start, and the end
// where fewer than eight clients are still working, weigh too much: eight clients' runs of
// 3,000 spread by 15-25% from one to the next here, runs of 10,000 by 3-7%.
const MEASURED = Number(process.env.BENCH_ALLOCATIONS ?? 10000);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2000);
// A VM's fsync and scheduling vary by ±10% from one second to the next: each figure is the
// median of several runs, with every run's throughput listed beside it.
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const POOL = {
  name: "bench",
  type: "private_ipv4" as const,
  cidr: "10.0.0.0/8",
  facility: "bench",
  project: null,
};

const request = (prefixLength: number): AllocateRequest => ({
  project: "bench",
  type: "private_ipv4",
  facility: "bench",
  block: { prefixLength },
  tags: [],
  description: null,
  owner: null,
  actor: "bench",
});

interface Result {
  backend: string;
  clients: number;
  existing: number;
  allocations: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** CPU of this (client) process per allocation: the rest of the machine's two cores is the database's. */
  clientCpuUs: number;
  /** Throughput of every run; the figures above are the median run's. */
  roundsPerSecond?: number[];
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const round = (n: number, digits = 3) => Number(n.toFixed(digits));

/**
 * `clients` stores allocate `total` /29 blocks between them as fast as they can. The blocks
 * are released afterwards (not timed), so every run starts from the same pool.
 */
async function measure(backend: string, stores: Store[], existing: number, total: number): Promise<Result> {
  const latencies: number[] = [];
  const made: string[][] = stores.map(() => []);
  const each = Math.ceil(total / stores.length);
  const cpu = process.cpuUsage();
  const start = performance.now();
  await Promise.all(
    stores.map(async (store, k) => {
      for (let i = 0; i < each; i++) {
        const t = performance.now();
        made[k]!.push((await store.allocate(request(29))).id);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  await Promise.all(
    stores.map(async (store, k) => {
      for (const id of made[k]!) await store.release(id, "bench");
    }),
  );
  latencies.sort((a, b) => a - b);
  return {
    backend,
    clients: stores.length,
    existing,
    allocations: latencies.length,
    perSecond: Math.round(latencies.length / seconds),
    p50Ms: round(quantile(latencies, 0.5)),
    p99Ms: round(quantile(latencies, 0.99)),
    maxMs: round(latencies.at(-1)!),
    clientCpuUs: Math.round((used.user + used.system) / latencies.length),
  };
}

/**
 * What this machine's disk allows at the moment, beside our figures: durable one-row commits
 * per second on SQLite (same pragmas, same file system) and through node-postgres (one and
 * eight clients). Allocation cannot beat a bare commit; the ratio is what the allocator costs.
 * Measured before and after each backend's runs: fsync speed here drifts by tens of percent.
 */
function sqliteCeiling(dir: string, commits = 3000): number {
  const file = path.join(dir, "ceiling.db");
  const db = new Database(file);
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)");
    const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
    const commit = db.transaction((v: string) => insert.run(v));
    const start = performance.now();
    for (let i = 0; i < commits; i++) commit.immediate(`row ${i}`);
    return Math.round(commits / ((performance.now() - start) / 1000));
  } finally {
    db.close();
    for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
  }
}

async function postgresCeiling(url: string, clients: number, commits = 3000): Promise<number> {
  const conns = await Promise.all(
    Array.from({ length: clients }, async () => {
      const c = new Client({ connectionString: url });
      await c.connect();
      return c;
    }),
  );
  try {
    await conns[0]!.query("CREATE TABLE IF NOT EXISTS bench_ceiling (id bigserial PRIMARY KEY, v text)");
    const start = performance.now();
    await Promise.all(
      conns.map(async (c) => {
        for (let i = 0; i < commits / clients; i++)
          await c.query({
            name: "ceiling",
            text: "INSERT INTO bench_ceiling (v) VALUES ($1)",
            values: ["row"],
          });
      }),
    );
    return Math.round(commits / ((performance.now() - start) / 1000));
  } finally {
    await Promise.all(conns.map((c) => c.end()));
  }
}

/** Grows the pool to `target` reservations with mixed sizes and some frees, so it is fragmented like a real one. */
async function populate(stores: Store[], target: number, current: () => Promise<number>): Promise<void> {
  let seed = 42;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  let have = await current();
  while (have < target) {
    const batch = Math.min(target - have, 4000);
    const each = Math.ceil(batch / stores.length);
    await Promise.all(
      stores.map(async (store) => {
        const mine: string[] = [];
        for (let i = 0; i < each; i++) {
          mine.push((await store.allocate(request(27 + Math.floor(rand() * 6)))).id);
          if (rand() < 0.1)
            await store.release(mine.splice(Math.floor(rand() * mine.length), 1)[0]!, "bench");
        }
      }),
    );
    have = await current();
  }
}

/** One level: a database of its own, its pool filled to `existing`, with its connections. */
interface Level {
  existing: number;
  stores: Store[];
  count(): Promise<number>;
  /** Brings the database to rest before a run (see the backends' settle functions). */
  settle(): Promise<void>;
}

interface LevelDatabase {
  open(): Promise<Store>;
  count(): Promise<number>;
  settle(): Promise<void>;
}

async function prepareLevel(db: LevelDatabase, existing: number, clients: number): Promise<Level> {
  const stores: Store[] = [];
  for (let i = 0; i < clients; i++) stores.push(await db.open());
  await stores[0]!.ensureFacility("bench", null, "bench");
  await stores[0]!.addPool(POOL, "bench");
  // Warm every connection (JIT, the server's plan and catalog caches) on a pool of its own
  // facility, so the measured pool starts with nothing in it.
  await stores[0]!.ensureFacility("warm", null, "bench");
  await stores[0]!.addPool({ ...POOL, name: "warm", cidr: "11.0.0.0/8", facility: "warm" }, "bench");
  await Promise.all(
    stores.map(async (store) => {
      for (let i = 0; i < WARMUP; i++) await store.allocate({ ...request(29), facility: "warm" });
    }),
  );
  await populate(stores, existing, () => db.count());
  return { existing, stores, count: () => db.count(), settle: () => db.settle() };
}

/**
 * Each level has its own database, and the runs go round the levels in turn (0, 10k, 100k, 0,
 * ...): this VM's fsync and CPU drift by up to half from one minute to the next (the bare
 * commit ceilings before and after show it), and levels measured one after the other, minutes
 * apart, compared the machine's minutes more than the allocator's costs.
 */
async function runLevels(
  backend: string,
  clientCounts: number[],
  database: (existing: number) => LevelDatabase,
): Promise<Result[]> {
  const maxClients = Math.max(...clientCounts);
  const levels: Level[] = [];
  const results: Result[] = [];
  try {
    for (const existing of LEVELS) levels.push(await prepareLevel(database(existing), existing, maxClients));
    for (const clients of clientCounts) {
      const runs = new Map<Level, Result[]>(levels.map((l) => [l, []]));
      // A short warm-up (JIT, caches, connections), not counted.
      for (const level of levels)
        await measure(backend, level.stores.slice(0, clients), level.existing, Math.min(200, MEASURED));
      for (let i = 0; i < ROUNDS; i++) {
        for (const level of levels) {
          await level.settle();
          const existing = await level.count();
          runs.get(level)!.push(await measure(backend, level.stores.slice(0, clients), existing, MEASURED));
        }
      }
      for (const level of levels) {
        const rounds = runs.get(level)!;
        const sorted = [...rounds].sort((a, b) => a.perSecond - b.perSecond);
        const r = {
          ...sorted[Math.floor((sorted.length - 1) / 2)]!,
          roundsPerSecond: rounds.map((x) => x.perSecond),
        };
        results.push({ ...r, existing: level.existing });
        process.stderr.write(`${JSON.stringify(r)}\n`);
      }
    }
  } finally {
    await Promise.all(levels.flatMap((l) => l.stores.map((s) => s.close())));
  }
  return results;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "baremetal-bench-"));
  const memory: Record<string, { rssMb: number; heapUsedMb: number } | number> = {};
  const snapshot = (label: string) => {
    const m = process.memoryUsage();
    memory[label] = { rssMb: round(m.rss / 2 ** 20, 1), heapUsedMb: round(m.heapUsed / 2 ** 20, 1) };
  };
  const results: Result[] = [];
  const durability: Record<string, string> = {};
  // Durable one-row commits per second, before and after each backend's runs.
  const ceilings: Record<string, number[]> = {};

  const fileOf = (existing: number) => path.join(dir, `bench-${existing}.db`);
  if (BACKENDS.includes("sqlite")) {
    const sqliteDatabase = (existing: number): LevelDatabase => {
      const file = fileOf(existing);
      return {
        open: () => openStore(`sqlite:${file}`),
        count: async () => {
          const db = new Database(file, { readonly: true });
          try {
            return (
              db
                .prepare(
                  "SELECT count(*) AS n FROM reservations WHERE pool_id = (SELECT id FROM pools WHERE name = 'bench')",
                )
                .get() as { n: number }
            ).n;
          } finally {
            db.close();
          }
        },
        // Every run starts from a checkpointed WAL, not behind the pages the last one left in it.
        settle: async () => {
          const db = new Database(file);
          try {
            db.pragma("wal_checkpoint(TRUNCATE)");
          } finally {
            db.close();
          }
        },
      };
    };
    ceilings.sqliteCommitsPerSecond = [sqliteCeiling(dir)];
    results.push(...(await runLevels("sqlite", [1], sqliteDatabase)));
    ceilings.sqliteCommitsPerSecond.push(sqliteCeiling(dir));
    // Read from a store connection: the store sets these itself on every connection it opens.
    const check = new SqliteStore(fileOf(LEVELS.at(-1)!));
    durability.sqlite = check.durability();
    await check.close();
    snapshot("afterSqlite");
    memory.sqliteFileMb = round(fs.statSync(fileOf(LEVELS.at(-1)!)).size / 2 ** 20, 1);
  }

  if (BACKENDS.includes("postgres")) {
    const external = process.env.BENCH_POSTGRES_URL;
    const settings = Object.fromEntries(
      (process.env.BENCH_PG_SETTINGS ?? "")
        .split(",")
        .filter(Boolean)
        .map((kv) => kv.split("=") as [string, string]),
    );
    const server = external ? undefined : await startPostgres(settings);
    const url = external ?? server!.urlFor("postgres");
    try {
      const dbUrl = (name: string) => {
        const u = new URL(url);
        u.pathname = `/${name}`;
        return u.toString();
      };
      const names = ["bench_ceiling", ...LEVELS.map((l) => `bench_${l}`)];
      const admin = new Client({ connectionString: url });
      await admin.connect();
      try {
        for (const name of names) {
          await admin.query(`DROP DATABASE IF EXISTS ${name}`);
          await admin.query(`CREATE DATABASE ${name}`);
        }
        const sync = await admin.query<{ synchronous_commit: string }>("SHOW synchronous_commit");
        const fsync = await admin.query<{ fsync: string }>("SHOW fsync");
        durability.postgres = `synchronous_commit=${sync.rows[0]!.synchronous_commit}, fsync=${fsync.rows[0]!.fsync}`;
      } finally {
        await admin.end();
      }
      const withClient = async <T>(db: string, fn: (c: Client) => Promise<T>): Promise<T> => {
        const c = new Client({ connectionString: dbUrl(db) });
        await c.connect();
        try {
          return await fn(c);
        } finally {
          await c.end();
        }
      };
      const postgresDatabase = (existing: number): LevelDatabase => {
        const db = `bench_${existing}`;
        return {
          open: () => openStore(dbUrl(db)),
          count: () =>
            withClient(db, async (c) =>
              Number(
                (
                  await c.query<{ n: string }>(
                    "SELECT count(*) AS n FROM reservations WHERE pool_id = (SELECT id FROM pools WHERE name = 'bench')",
                  )
                ).rows[0]!.n,
              ),
            ),
          // Every run starts settled, as pgbench vacuums before its runs: the dead rows the
          // last run's frees and the populating left are vacuumed, the statistics fresh, and
          // the dirty pages written (CHECKPOINT), so a run is not measured against the
          // writing-back and autovacuum of what came before it. A login that may not
          // CHECKPOINT only vacuums.
          settle: () =>
            withClient(db, async (c) => {
              await c.query("VACUUM (ANALYZE)");
              await c.query("CHECKPOINT").catch(() => undefined);
            }),
        };
      };
      const pgCeilings = async () => [
        await postgresCeiling(dbUrl("bench_ceiling"), 1),
        await postgresCeiling(dbUrl("bench_ceiling"), 8),
      ];
      const before = await pgCeilings();
      results.push(...(await runLevels("postgres", [1, 8], postgresDatabase)));
      const after = await pgCeilings();
      ceilings.postgres1ClientCommitsPerSecond = [before[0]!, after[0]!];
      ceilings.postgres8ClientsCommitsPerSecond = [before[1]!, after[1]!];
    } finally {
      await server?.stop();
    }
    snapshot("afterPostgres");
  }
  fs.rmSync(dir, { recursive: true, force: true });

  const pick = (backend: string, clients: number, existing: number) =>
    results.find((r) => r.backend === backend && r.clients === clients && r.existing === existing) ?? {
      perSecond: NaN,
      p99Ms: NaN,
    };
  const ratio = (backend: string, clients: number) => {
    const [none, full] = [pick(backend, clients, 0), pick(backend, clients, 100_000)];
    // Cost per allocation: the inverse of throughput.
    return round(none.perSecond / full.perSecond, 2);
  };
  // A backend this run left out (BENCH_BACKENDS) has no verdict: null, not false.
  const ran = (backend: string) => BACKENDS.includes(backend);
  const atLeast = (backend: string, clients: number, floor: number) =>
    ran(backend) ? Math.min(...LEVELS.map((l) => pick(backend, clients, l).perSecond)) >= floor : null;
  const ratios = [ratio("sqlite", 1), ratio("postgres", 1), ratio("postgres", 8)].filter(
    (r) => !Number.isNaN(r),
  );
  const targets = {
    sqlitePerSecondAtLeast5000: atLeast("sqlite", 1, 5000),
    sqliteP99Under1msAt100k:
      ran("sqlite") && LEVELS.includes(100_000) ? pick("sqlite", 1, 100_000).p99Ms < 1 : null,
    postgres1ClientAtLeast2000: atLeast("postgres", 1, 2000),
    postgres8ClientsAtLeast5000: atLeast("postgres", 8, 5000),
    costAt100kWithin125Percent: {
      sqlite: ratio("sqlite", 1),
      postgres1: ratio("postgres", 1),
      postgres8: ratio("postgres", 8),
      ok: ratios.length > 0 ? ratios.every((r) => r <= 1.25) : null,
    },
  };
  console.log(
    JSON.stringify(
      {
        benchmark: "ipam /29 allocation",
        measuredAllocationsPerRun: MEASURED,
        machine: { cpus: os.cpus().length, node: process.version },
        durability,
        bareCommitCeilings: ceilings,
        results,
        memory,
        targets,
      },
      null,
      2,
    ),
  );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});

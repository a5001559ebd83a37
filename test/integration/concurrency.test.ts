// Many OS processes allocate and free against one store at once, as many `pulumi up`s from
// laptops and pipelines do. Afterwards no two live reservations overlap, no free block overlaps
// a reservation or another free block, and allocated plus free is exactly the pool.
import { spawn } from "node:child_process";
import Database from "better-sqlite3";
import { Client } from "pg";
import path from "node:path";
import { overlaps, parseCidr, type Block } from "../../provider/ipam/cidr";
import { IpamError } from "../../provider/ipam/errors";
import { openStore } from "../../provider/store/open";
import { backends } from "../helpers/backends";
import { allocateRequest } from "../helpers/requests";

jest.setTimeout(180_000);

const PROCESSES = 8;
const OPS = 150;
const root = path.resolve(__dirname, "../..");

function runWorker(
  location: string,
  seed: number,
): Promise<{ allocated: number; exact: number; freed: number; held: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        "-r",
        "ts-node/register/transpile-only",
        path.join(__dirname, "workers/allocator.ts"),
        location,
        String(OPS),
        String(seed),
      ],
      {
        cwd: root,
        env: { ...process.env, TS_NODE_PROJECT: path.join(root, "tsconfig.json") },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 150_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(JSON.parse(out.trim().split("\n").pop()!));
      else reject(new Error(`worker ${seed} exited ${code}: ${err}`));
    });
  });
}

function assertDisjoint(blocks: Block[], what: string): void {
  const sorted = [...blocks].sort((a, b) => (a.network < b.network ? -1 : a.network > b.network ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    if (overlaps(sorted[i - 1]!, sorted[i]!))
      throw new Error(
        `${what}: ${JSON.stringify([sorted[i - 1], sorted[i]], (_, v) => (typeof v === "bigint" ? v.toString() : v))} overlap`,
      );
  }
}

describe.each(backends)("$name", (backend) => {
  test(`${PROCESSES} processes allocating and freeing at once never share an address`, async () => {
    const fresh = await backend.fresh();
    try {
      const store = await openStore(fresh.location);
      await store.ensureFacility("lab1", null, "test");
      await store.addPool(
        { name: "shared", type: "private_ipv4", cidr: "10.1.0.0/20", facility: "lab1", project: null },
        "test",
      );
      await store.close();

      const results = await Promise.all(
        [...Array(PROCESSES).keys()].map((i) => runWorker(fresh.location, 1000 + i)),
      );
      const made = results.reduce((s, r) => s + r.allocated + r.exact, 0);
      const freed = results.reduce((s, r) => s + r.freed, 0);
      expect(made).toBeGreaterThan(PROCESSES * OPS * 0.3);
      expect(results.reduce((s, r) => s + r.exact, 0)).toBeGreaterThan(0);

      const check = await openStore(fresh.location);
      try {
        const live = await check.listReservations({ pool: "shared" });
        expect(live).toHaveLength(made - freed);
        const reserved = live.map((r) => parseCidr(r.cidr));
        const free = (await check.listFreeBlocks("shared")).map(parseCidr);
        assertDisjoint(reserved, "reservations");
        assertDisjoint([...reserved, ...free], "reservations and free blocks");
        const usage = await check.poolUsage("shared");
        expect(BigInt(usage.allocated) + BigInt(usage.free)).toBe(BigInt(usage.total));
        expect(usage.total).toBe("4096");
      } finally {
        await check.close();
      }
    } finally {
      await fresh.cleanup();
    }
  });

  test("removing a pool while clients allocate from it leaves no orphaned block", async () => {
    const fresh = await backend.fresh();
    const stores = await Promise.all([...Array(5).keys()].map(() => openStore(fresh.location)));
    try {
      await stores[0]!.ensureFacility("lab1", null, "test");
      await stores[0]!.addPool(
        { name: "doomed", type: "private_ipv4", cidr: "10.2.0.0/24", facility: "lab1", project: null },
        "test",
      );
      let removed = false;
      const gone = (e: unknown) => e instanceof IpamError && ["PoolNotFound", "NoSpaceLeft"].includes(e.code);
      const allocators = stores.slice(1).map(async (store) => {
        for (let i = 0; i < 300 && !removed; i++) {
          try {
            const r = await store.allocate(
              allocateRequest({ project: "p", block: { prefixLength: 30 }, actor: "t" }),
            );
            await store.release(r.id, "t");
          } catch (e) {
            if (!gone(e)) throw e;
          }
        }
      });
      const remover = (async () => {
        for (let i = 0; i < 300 && !removed; i++) {
          try {
            await stores[0]!.removePool("doomed", "t");
            removed = true;
          } catch (e) {
            if (!(e instanceof IpamError && e.code === "PoolInUse")) throw e;
          }
        }
      })();
      await Promise.all([...allocators, remover]);
      const orphans = await countOrphans(fresh.location);
      expect(orphans).toEqual({ reservations: 0, freeBlocks: 0 });
      if (!removed) {
        await stores[0]!.removePool("doomed", "t");
        expect(await countOrphans(fresh.location)).toEqual({ reservations: 0, freeBlocks: 0 });
      }
      expect(await stores[0]!.listPools()).toEqual([]);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await fresh.cleanup();
    }
  });
});

/** Rows whose pool no longer exists, read with raw SQL so no store join can hide them. */
async function countOrphans(location: string): Promise<{ reservations: number; freeBlocks: number }> {
  const sql = (table: string) =>
    `SELECT count(*) AS n FROM ${table} WHERE pool_id NOT IN (SELECT id FROM pools)`;
  if (location.startsWith("sqlite:")) {
    const db = new Database(location.slice("sqlite:".length), { readonly: true });
    try {
      const n = (t: string) => (db.prepare(sql(t)).get() as { n: number }).n;
      return { reservations: n("reservations"), freeBlocks: n("free_blocks") };
    } finally {
      db.close();
    }
  }
  const c = new Client({ connectionString: location });
  await c.connect();
  try {
    const n = async (t: string) => Number((await c.query<{ n: string }>(sql(t))).rows[0]!.n);
    return { reservations: await n("reservations"), freeBlocks: await n("free_blocks") };
  } finally {
    await c.end();
  }
}

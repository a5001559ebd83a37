// The store backends every shared test runs against, each on a fresh, real database.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Client } from "pg";
import { openStore } from "../../provider/store/open";
import type { Store } from "../../provider/store/store";

export interface TestBackend {
  name: "sqlite" | "postgres";
  /** A new, empty store location. */
  fresh(): Promise<{ location: string; cleanup(): Promise<void> }>;
}

export const sqliteBackend: TestBackend = {
  name: "sqlite",
  async fresh() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "baremetal-store-"));
    return {
      location: `sqlite:${path.join(dir, "state.db")}`,
      cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }),
    };
  },
};

/** The superuser URL of the integration run's PostgreSQL server. */
export function testPostgresUrl(): string {
  const admin = process.env.BAREMETAL_TEST_POSTGRES_URL;
  if (!admin)
    throw new Error("BAREMETAL_TEST_POSTGRES_URL is not set: the integration global setup starts PostgreSQL");
  return admin;
}

export const postgresBackend: TestBackend = {
  name: "postgres",
  async fresh() {
    const admin = testPostgresUrl();
    const db = `t_${randomBytes(6).toString("hex")}`;
    const run = async (sql: string) => {
      const c = new Client({ connectionString: admin });
      await c.connect();
      try {
        await c.query(sql);
      } finally {
        await c.end();
      }
    };
    await run(`CREATE DATABASE ${db}`);
    const u = new URL(admin);
    u.pathname = `/${db}`;
    return { location: u.toString(), cleanup: () => run(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`) };
  },
};

export const backends = [sqliteBackend, postgresBackend];

export async function freshStore(
  b: TestBackend,
): Promise<{ store: Store; location: string; cleanup(): Promise<void> }> {
  const f = await b.fresh();
  const store = await openStore(f.location);
  return {
    store,
    location: f.location,
    cleanup: async () => {
      await store.close();
      await f.cleanup();
    },
  };
}

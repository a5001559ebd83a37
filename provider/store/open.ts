// Opens the store a location names, and brings its schema up to date.
import fs from "node:fs";
import path from "node:path";
import { SqliteStore } from "./sqlite";
import type { Store } from "./store";

/**
 * Locations: `postgres://user:password@host:port/database` for PostgreSQL; `sqlite:<file>` or a
 * bare file path for the embedded store (relative paths are taken from `baseDir`).
 * With `migrate: false` nothing is created or changed (for `baremetal store status`); with
 * `create: false` a SQLite store that is not there is refused rather than made.
 */
/**
 * The SQLite file a location names, resolved from `baseDir` (":memory:" as it is), or
 * undefined for a location with a scheme (PostgreSQL, or one openStore refuses by name).
 */
export function sqliteFile(location: string, baseDir = process.cwd()): string | undefined {
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(location)) return undefined;
  const file = location.startsWith("sqlite:") ? location.slice("sqlite:".length) : location;
  if (file === "") throw new Error(`store location "${location}" names no file; use sqlite:<file>`);
  return file === ":memory:" ? file : path.resolve(baseDir, file);
}

export async function openStore(
  location: string,
  {
    baseDir = process.cwd(),
    migrate = true,
    create = migrate,
  }: { baseDir?: string; migrate?: boolean; create?: boolean } = {},
): Promise<Store> {
  let store: Store;
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(location)?.[1]?.toLowerCase();
  if (scheme !== undefined && scheme !== "postgres" && scheme !== "postgresql") {
    // Taken as a file name it would be a new, empty store handing out blocks another one holds.
    throw new Error(
      `store location "${location}": ${scheme}:// is not a store; use postgres://user@host:port/database or sqlite:<file>`,
    );
  }
  if (scheme !== undefined) {
    // Loaded only for PostgreSQL: node-postgres and our SQL for it are a tenth of the provider's
    // own load time, in a process that starts on every pulumi command.
    const { PostgresStore } = await import("./postgres");
    store = new PostgresStore(location);
  } else {
    const resolved = sqliteFile(location, baseDir)!;
    if (!create && resolved !== ":memory:" && !fs.existsSync(resolved)) {
      throw new Error(
        `there is no store at sqlite:${resolved}; create it with \`baremetal store init\` (or \`baremetal inventory apply\`), or name another with --store`,
      );
    }
    store = new SqliteStore(resolved);
  }
  if (!migrate) return store;
  try {
    await store.migrate();
  } catch (e) {
    await store.close();
    throw poolerRefused(e, store.location) ?? e;
  }
  return store;
}

/**
 * PgBouncer's refusal of the server settings our PostgreSQL connections send when they open
 * (`options`: plan_cache_mode), which by itself names nothing a user could act on. It refuses
 * them unless told to ignore them; and the store needs each of its connections to be one
 * server session (a hold is a lock on one, install reports are LISTENed for on one), which
 * transaction pooling does not give.
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

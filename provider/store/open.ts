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
    throw e;
  }
  return store;
}

// Opens the store a location names, and brings its schema up to date.
import path from "node:path";
import { SqliteStore } from "./sqlite";
import type { Store } from "./store";

/**
 * Locations: `sqlite:<file>` or a bare file path for the embedded store (relative paths are
 * taken from `baseDir`).
 */
export async function openStore(location: string, baseDir = process.cwd()): Promise<Store> {
  if (/^postgres(ql)?:\/\//.test(location)) {
    throw new Error("the PostgreSQL store is not available in this version; use sqlite:<file>");
  }
  const file = location.startsWith("sqlite:") ? location.slice("sqlite:".length) : location;
  if (file === "") throw new Error(`store location "${location}" names no file; use sqlite:<file>`);
  const store = new SqliteStore(file === ":memory:" ? file : path.resolve(baseDir, file));
  try {
    await store.migrate();
  } catch (e) {
    await store.close();
    throw e;
  }
  return store;
}

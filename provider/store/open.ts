// Opens the store a location names, and brings its schema up to date.
import fs from "node:fs";
import path from "node:path";
import { SqliteStore } from "./sqlite";
import type { Store } from "./store";

/**
 * Locations: `sqlite:<file>` or a bare file path for the embedded store (relative paths are
 * taken from `baseDir`).
 */
export async function openStore(
  location: string,
  { baseDir = process.cwd(), migrate = true }: { baseDir?: string; migrate?: boolean } = {},
): Promise<Store> {
  if (/^postgres(ql)?:\/\//.test(location)) {
    throw new Error("the PostgreSQL store is not available in this version; use sqlite:<file>");
  }
  const file = location.startsWith("sqlite:") ? location.slice("sqlite:".length) : location;
  if (file === "") throw new Error(`store location "${location}" names no file; use sqlite:<file>`);
  const resolved = file === ":memory:" ? file : path.resolve(baseDir, file);
  // Only a migrating open may create the store; a look must not leave an empty file behind.
  if (!migrate && resolved !== ":memory:" && !fs.existsSync(resolved)) {
    throw new Error(`there is no store at sqlite:${resolved}; create it with \`baremetal store init\``);
  }
  const store = new SqliteStore(resolved);
  if (!migrate) return store;
  try {
    await store.migrate();
  } catch (e) {
    await store.close();
    throw e;
  }
  return store;
}

import fs from "node:fs";
import path from "node:path";
import { DEFAULT_STORE, safeUser } from "../provider/config";
import { openStore } from "../provider/store/open";
import type { Store } from "../provider/store/store";

export const STORE_HELP = `store location: sqlite:<file> (default: $BAREMETAL_STORE, else ${DEFAULT_STORE})`;

export const storeLocation = (flag?: string): string => flag || process.env.BAREMETAL_STORE || DEFAULT_STORE;

/**
 * Runs `fn` with the store open, and always closes it; `fn` gets who acts: the store's login
 * where it knows one (PostgreSQL), as the provider takes it, else `actor()`. Only commands that
 * make things (`create`) make a new SQLite store: a listing at a mistyped path would otherwise
 * show an empty store, and leave one there.
 */
export async function withStore<T>(
  flag: string | undefined,
  fn: (store: Store, who: string) => Promise<T>,
  opts: { migrate?: boolean; create?: boolean } = {},
): Promise<T> {
  const store = await openStore(storeLocation(flag), { migrate: opts.migrate, create: opts.create ?? false });
  try {
    return await fn(store, (await store.identity()) ?? actor());
  } finally {
    await store.close();
  }
}

/** The same actor the provider uses when the stack does not set baremetal:actor. */
export const actor = (): string => process.env.BAREMETAL_ACTOR || safeUser();

/** The SQLite store `flag` names, as sqlite:<absolute path>, when there is none there yet. */
export function missingSqliteStore(flag?: string): string | undefined {
  const location = storeLocation(flag);
  // PostgreSQL (or a scheme openStore refuses, by name) is not a file.
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) return undefined;
  const file = location.startsWith("sqlite:") ? location.slice("sqlite:".length) : location;
  if (file === "" || file === ":memory:") return undefined;
  const resolved = path.resolve(file);
  return fs.existsSync(resolved) ? undefined : `sqlite:${resolved}`;
}

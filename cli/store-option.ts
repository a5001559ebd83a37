import fs from "node:fs";
import { DEFAULT_STORE, safeUser } from "../provider/config";
import { openStore, sqliteFile } from "../provider/store/open";
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
  const file = sqliteFile(storeLocation(flag));
  return file === undefined || file === ":memory:" || fs.existsSync(file) ? undefined : `sqlite:${file}`;
}

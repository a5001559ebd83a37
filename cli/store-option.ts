import { DEFAULT_STORE, safeUser } from "../provider/config";
import { openStore } from "../provider/store/open";
import type { Store } from "../provider/store/store";

export const STORE_HELP = `store location: sqlite:<file> (default: $BAREMETAL_STORE, else ${DEFAULT_STORE})`;

export const storeLocation = (flag?: string): string => flag || process.env.BAREMETAL_STORE || DEFAULT_STORE;

/** Runs `fn` with the store open, and always closes it. */
export async function withStore<T>(
  flag: string | undefined,
  fn: (store: Store) => Promise<T>,
  opts: { migrate?: boolean } = {},
): Promise<T> {
  const store = await openStore(storeLocation(flag), opts);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** The same actor the provider uses when the stack does not set baremetal:actor. */
export const actor = (): string => process.env.BAREMETAL_ACTOR || safeUser();

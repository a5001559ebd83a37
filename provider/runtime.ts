// Process-wide state of the provider: the configuration the engine sent through `configure`,
// and one open store per location. The dynamic-provider process serves every resource of a
// `pulumi up`, so the store is opened once and shared.
import { cpuBeforeLoadUs } from "./compile-cache";
import { markStartup, reportCpu as writeReport } from "./cpu-report";
import { exitWhenEngineGone } from "./engine-watch";
import { isIpamError } from "./ipam/errors";
import { ProviderConfig, resolveConfig } from "./config";
import { flushProfile, startProfile } from "./profile";
import { openStore } from "./store/open";
import type { Op } from "./store/inventory-sql";
import type { NewPool, Store } from "./store/store";

let current: ProviderConfig | undefined;

/**
 * For `npm run bench:provision` (cpu-report.ts): the provider's CPU so far, with what Node and
 * Pulumi's host had used before our first module loaded, and its V8 profile when one is kept.
 */
export function reportCpu(): void {
  flushProfile();
  writeReport({ beforeLoadUs: cpuBeforeLoadUs });
}

const stores = new Map<string, Promise<Store>>();

export function configure(get: (key: string) => string | undefined): void {
  // Node, Pulumi's host and our modules: what the engine's first call found used.
  markStartup();
  current = resolveConfig(get);
  exitWhenEngineGone();
  startProfile();
}

export function providerConfig(): ProviderConfig {
  // `configure` always runs first under the engine; direct callers (tests, CLI) get env defaults.
  return (current ??= resolveConfig(() => undefined));
}

export function storeFor(config: ProviderConfig = providerConfig()): Promise<Store> {
  let store = stores.get(config.store);
  if (!store) {
    store = openStore(config.store).then(async (s) => {
      await ensurePools(s, config.pools, (await s.identity()) ?? config.actor);
      return s;
    });
    // A failed open is not cached: the next call tries again.
    store.catch(() => stores.delete(config.store));
    stores.set(config.store, store);
  }
  return store.then(async (s) => {
    // On a store that knows each login, that login is the actor, whatever the stack says.
    const login = await s.identity();
    if (login) config.actor = login;
    return s;
  });
}

const SLOW = Symbol("slow");
const FAILED = Symbol("failed");

/** Stores opened only to be read (`peek`); undefined for one that could not be opened or answered. */
const peeks = new Map<string, Promise<Store | undefined>>();

/**
 * One read of the store that changes nothing (no migration, no pools, no file made), for what
 * runs at preview too: a diff. The store this process opened for its operations serves when
 * there is one. A store that cannot be opened or read, or does not answer within `ms`, gives
 * undefined. One this opened itself that did not answer in time is not asked again in this
 * process (a connect that hangs): a preview of many servers waits once, not for each.
 */
export async function peek<T>(
  op: (at: string) => Op<T>,
  config = providerConfig(),
  ms = 3000,
): Promise<T | undefined> {
  const location = config.store;
  const operational = stores.get(location);
  let store: Promise<Store | undefined> | undefined = operational ?? peeks.get(location);
  if (!store) {
    store = openStore(location, { migrate: false, create: false }).catch(() => undefined);
    peeks.set(location, store);
  }
  let timer: NodeJS.Timeout | undefined;
  const slow = new Promise<typeof SLOW>((resolve) => (timer = setTimeout(() => resolve(SLOW), ms).unref()));
  const read = store.then<T | typeof FAILED>((s) => (s ? s.transact(op, "read") : FAILED));
  const result = await Promise.race([read, slow]).catch(() => FAILED);
  clearTimeout(timer);
  if (result === SLOW && !operational) {
    const mine = peeks.get(location);
    peeks.set(location, Promise.resolve(undefined));
    // Its connection, should it open after all, is not kept.
    void mine?.then((s) => s?.close().catch(() => undefined));
  }
  return result === SLOW || result === FAILED ? undefined : (result as T);
}

export async function closeStores(): Promise<void> {
  const all = [...stores.values(), ...peeks.values()];
  stores.clear();
  peeks.clear();
  await Promise.all(all.map(async (s) => (await s.catch(() => undefined))?.close().catch(() => undefined)));
}

async function ensurePools(store: Store, pools: NewPool[], actor: string): Promise<void> {
  for (const want of pools) {
    if (want.facility !== null) await store.ensureFacility(want.facility, null, actor);
    let have = await store.getPool(want.name);
    if (!have) {
      try {
        have = await store.addPool(want, actor);
      } catch (e) {
        // Another process may have added it at the same moment.
        have = await store.getPool(want.name);
        if (!have || !isIpamError(e)) throw e;
      }
    }
    const same =
      have.type === want.type &&
      have.cidr === want.cidr &&
      have.facility === want.facility &&
      have.project === want.project;
    if (!same) {
      throw new Error(
        `baremetal:pools: pool ${want.name} exists in ${store.location} as ${have.type} ${have.cidr} ` +
          `(facility ${have.facility ?? "global"}), not as configured (${want.type} ${want.cidr}, facility ${want.facility ?? "global"})`,
      );
    }
  }
}

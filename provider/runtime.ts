// Process-wide state of the provider: the configuration the engine sent through `configure`,
// and one open store per location. The dynamic-provider process serves every resource of a
// `pulumi up`, so the store is opened once and shared.
import fs from "node:fs";
import { cpuBeforeLoadUs } from "./compile-cache";
import { exitWhenEngineGone } from "./engine-watch";
import { isIpamError } from "./ipam/errors";
import { ProviderConfig, resolveConfig } from "./config";
import { flushProfile, startProfile } from "./profile";
import { openStore } from "./store/open";
import type { NewPool, Store } from "./store/store";

let current: ProviderConfig | undefined;
/** CPU the process had used when the engine first configured it: Node, Pulumi's host, our modules. */
let startupCpuUs: number | undefined;

let reportPending = false;
let reportAtExit = false;

/**
 * For `npm run bench:provision`: the provider's own CPU time so far, written a moment after a
 * resource operation, and once more when the engine ends the process. The engine ends it with
 * SIGINT as soon as the run is over, sometimes within a few milliseconds of the last create
 * (a one-wave run was over before any report was written), so the last word is written from
 * the signal. One write per burst, not per server: the measuring must not be what it measures.
 */
export function reportCpu(): void {
  flushProfile();
  const file = process.env.BAREMETAL_CPU_REPORT;
  if (!file) return;
  if (!reportAtExit) {
    reportAtExit = true;
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      process.once(signal, () => {
        writeCpuReport(file);
        // Then end as the signal would have ended us.
        process.kill(process.pid, signal);
      });
    }
  }
  if (reportPending) return;
  reportPending = true;
  setTimeout(() => {
    reportPending = false;
    writeCpuReport(file);
  }, 100).unref();
}

function writeCpuReport(file: string): void {
  const { user, system } = process.cpuUsage();
  fs.writeFileSync(
    `${file}.${process.pid}`,
    JSON.stringify({
      pid: process.pid,
      userUs: user,
      systemUs: system,
      startupUs: startupCpuUs ?? 0,
      beforeLoadUs: cpuBeforeLoadUs,
    }),
  );
}
const stores = new Map<string, Promise<Store>>();

export function configure(get: (key: string) => string | undefined): void {
  if (startupCpuUs === undefined) {
    const { user, system } = process.cpuUsage();
    startupCpuUs = user + system;
  }
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

export async function closeStores(): Promise<void> {
  const all = [...stores.values()];
  stores.clear();
  await Promise.all(all.map(async (s) => (await s).close().catch(() => undefined)));
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

// Imported first by the provider's and the CLI's entry points. A dynamic-provider process
// starts on every `pulumi` command and the CLI on every call; with Node's compile cache each
// loads our modules (and the libraries after them) from cached bytecode after the first time.
// A cache that cannot be written (read-only temp dir, another user's) is simply not used;
// NODE_DISABLE_COMPILE_CACHE=1 turns it off.
import nodeModule from "node:module";

// Node 22.1 and later (flushCompileCache 22.10); the typings may predate them.
const cache = nodeModule as { enableCompileCache?: () => unknown; flushCompileCache?: () => void };
cache.enableCompileCache?.();

let flushes = 0;

/**
 * Node writes the cache when a process exits, but the engine kills its dynamic-provider process
 * at the end of every command: without this the provider's modules were never cached, and each
 * `pulumi` command compiled them again (30-40 ms of its CPU here). Called after the provider's
 * operations; writes twice at most: after the first (what startup loaded) and after the first
 * that touched hardware (the drivers it loaded on the way). Entries already on disk are not
 * written again.
 */
export function persistCompileCache(touchedHardware: boolean): void {
  if (flushes >= 2 || (flushes === 1 && !touchedHardware)) return;
  flushes = touchedHardware ? 2 : 1;
  // After the reply has gone out: the engine is waiting for it, not for this.
  setImmediate(() => cache.flushCompileCache?.()).unref();
}

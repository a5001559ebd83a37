// Waiting for installs and wipes to report. The boot server writes a session's progress into
// the store, possibly from another host, so the provider polls. One poll per interval reads
// every session this process waits on, in one query, however many servers wait at once: a
// poll per server cost as much CPU as the rest of the wait.
import type { SessionState } from "../store/servers-sql";
import { sessionStates } from "../store/servers-sql";
import type { Store } from "../store/store";

interface Waiter {
  token: string;
  what: string;
  started: number;
  end: number;
  resolve(): void;
  reject(e: Error): void;
}

// Installs report within seconds in a lab and minutes on hardware: look often at first, then
// once a second.
const FAST_MS = 100;
const SLOW_MS = 1000;
const FAST_FOR_MS = 30_000;
// Statements are prepared once per distinct text: token lists are padded to one of a few sizes.
const CHUNK = 64;
// A poll that cannot read the store (a dropped connection, a lock held past the busy timeout)
// is tried again: failing every wait at once would quarantine a whole wave of machines for one
// hiccup. Waits still end at their deadlines, and after this many failed polls in a row.
const READ_FAILURES = 5;

class SessionWatch {
  private readonly waiters = new Set<Waiter>();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private failures = 0;

  constructor(private readonly store: Store) {}

  wait(token: string, deadlineMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const started = Date.now();
      this.waiters.add({ token, what, started, end: started + deadlineMs, resolve, reject });
      // A new session is looked at soon: a missing or failed one is reported at once.
      this.schedule(0);
    });
  }

  private schedule(delayMs: number): void {
    if (this.polling || this.waiters.size === 0) return;
    if (this.timer && delayMs > 0) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.poll(), delayMs);
  }

  private async poll(): Promise<void> {
    this.timer = undefined;
    this.polling = true;
    const waiting = [...this.waiters];
    try {
      const states = await this.read([...new Set(waiting.map((w) => w.token))]);
      this.failures = 0;
      const now = Date.now();
      for (const w of waiting) {
        const s = states.get(w.token);
        if (s?.state === "done") this.settle(w);
        else if (!s || s.state === "failed")
          this.settle(w, new Error(`${w.what} failed${s?.message ? `: ${s.message}` : ""}`));
        else if (now >= w.end)
          this.settle(
            w,
            new Error(
              `${w.what}: no report within ${Math.round((w.end - w.started) / 1000)} s (last: ${s.state}${s.message ? `: ${s.message}` : ""})`,
            ),
          );
      }
    } catch (e) {
      this.failures++;
      const now = Date.now();
      for (const w of waiting) {
        if (this.failures < READ_FAILURES && now < w.end) continue;
        this.settle(
          w,
          new Error(
            `${w.what}: the store could not be read (${this.failures} time${this.failures > 1 ? "s" : ""} in a row): ${(e as Error).message}`,
            { cause: e },
          ),
        );
      }
    } finally {
      this.polling = false;
    }
    // Failures count for the waits that saw them: the next wait starts afresh.
    if (this.waiters.size === 0) this.failures = 0;
    // After a failed read, wait longer each time (0.25, 0.5, 1, 2 s): a restarting database
    // gets a few seconds.
    const backoff = this.failures ? Math.min(250 * 2 ** (this.failures - 1), 4000) : 0;
    this.schedule(Math.max(backoff, this.nextDelay()));
  }

  private async read(
    tokens: string[],
  ): Promise<Map<string, { state: SessionState; message: string | null }>> {
    const out = new Map<string, { state: SessionState; message: string | null }>();
    for (let i = 0; i < tokens.length; i += CHUNK) {
      const chunk = tokens.slice(i, i + CHUNK);
      let size = 1;
      while (size < chunk.length) size *= 2;
      const padded = [...chunk, ...Array<string>(size - chunk.length).fill(chunk[0]!)];
      for (const [k, v] of await this.store.transact(() => sessionStates(padded), "read")) out.set(k, v);
    }
    return out;
  }

  private settle(w: Waiter, error?: Error): void {
    this.waiters.delete(w);
    if (error) w.reject(error);
    else w.resolve();
  }

  /** Fast while any wait is young; never past the nearest deadline. */
  private nextDelay(): number {
    const now = Date.now();
    let delay = SLOW_MS;
    for (const w of this.waiters) {
      if (now - w.started < FAST_FOR_MS) delay = Math.min(delay, FAST_MS);
      delay = Math.min(delay, Math.max(0, w.end - now));
    }
    return delay;
  }
}

const watches = new WeakMap<Store, SessionWatch>();

/** Resolves once the session is done; rejects when it failed, vanished or missed its deadline. */
export function waitForSession(store: Store, token: string, deadlineMs: number, what: string): Promise<void> {
  let watch = watches.get(store);
  if (!watch) {
    watch = new SessionWatch(store);
    watches.set(store, watch);
  }
  return watch.wait(token, deadlineMs, what);
}

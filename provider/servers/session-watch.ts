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

class SessionWatch {
  private readonly waiters = new Set<Waiter>();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;

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
              `${w.what}: no report within ${Math.round((w.end - w.started) / 1000)} s (last: ${s.state})`,
            ),
          );
      }
    } catch (e) {
      // The store could not be read: every wait fails with its error, as a wait of its own would.
      for (const w of waiting) this.settle(w, e as Error);
    } finally {
      this.polling = false;
    }
    this.schedule(this.nextDelay());
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

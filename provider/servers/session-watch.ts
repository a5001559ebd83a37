// Waiting for installs and wipes to report. The boot server writes a session's progress into
// the store, possibly from another host. The store says when a session changed
// (Store.watchSessions: LISTEN/NOTIFY on PostgreSQL, a file inotify watches on SQLite), and the
// provider then reads at once; it also polls, often where the store cannot tell and seldom
// where it can, in case a notice is lost. One read covers every session this process waits
// on, in one query, however many servers wait at once: a poll per server cost as much CPU as
// the rest of the wait. Waking on the notice, not the next 100 ms poll, took a 100-server
// `pulumi up` on the built-in lab from 15.2 s to 14.4 s of creates: the servers of a wave no
// longer finish together at a poll and then queue for the engine's checkpoint writes.
import type { SessionProgress } from "../store/servers-sql";
import { sessionStates } from "../store/servers-sql";
import type { Store } from "../store/store";

interface Waiter {
  token: string;
  what: string;
  /** done: the session finished; written: also once the installer said the OS is on the disk. */
  until: "done" | "written";
  started: number;
  end: number;
  resolve(): void;
  reject(e: Error): void;
}

// Without notices: installs report within seconds in a lab and minutes on hardware, so look
// often at first, then once a second. With them, once a second throughout. Tests lengthen these
// to show that a wait wakes on the notice.
export const sessionPolling = { fastMs: 100, slowMs: 1000, fastForMs: 30_000 };
// A watch outlives the last wait by this long: the next wave's waits come within moments, and
// a PostgreSQL watch is a connection of its own.
const WATCH_LINGER_MS = 10_000;
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
  /** A notice came during a read: read again straight after it. */
  private again = false;
  private failures = 0;
  /** none: not watching (the next wait tries); starting; on: notices come. */
  private watch: "none" | "starting" | "on" = "none";
  private stopWatch: (() => Promise<void>) | undefined;
  private linger: NodeJS.Timeout | undefined;

  constructor(private readonly store: Store) {}

  wait(token: string, deadlineMs: number, what: string, until: Waiter["until"]): Promise<void> {
    return new Promise((resolve, reject) => {
      const started = Date.now();
      this.waiters.add({ token, what, until, started, end: started + deadlineMs, resolve, reject });
      clearTimeout(this.linger);
      this.startWatch();
      // A new session is looked at soon: a missing or failed one is reported at once.
      this.schedule(0);
    });
  }

  private startWatch(): void {
    if (this.watch !== "none") return;
    this.watch = "starting";
    this.store
      .watchSessions({
        change: () => this.changed(),
        lost: () => {
          // Polled often again (from now: the poll set a second off may be far) until the next
          // wait watches anew.
          this.watch = "none";
          this.stopWatch = undefined;
          if (this.polling) return;
          clearTimeout(this.timer);
          this.timer = undefined;
          this.schedule(this.nextDelay());
        },
      })
      .catch(() => undefined)
      .then((stop) => {
        if (!stop) {
          // This store cannot tell, or could not now (a database restarting): polled often,
          // and the next wait tries again.
          this.watch = "none";
          return;
        }
        this.watch = "on";
        this.stopWatch = stop;
        // A change between the first read and the watch starting sent no notice: read once more.
        this.changed();
        if (this.waiters.size === 0) this.lingerThenStop();
      });
  }

  private lingerThenStop(): void {
    clearTimeout(this.linger);
    this.linger = setTimeout(() => {
      if (this.waiters.size > 0 || this.watch !== "on") return;
      const stop = this.stopWatch;
      this.watch = "none";
      this.stopWatch = undefined;
      void stop?.();
    }, WATCH_LINGER_MS);
    this.linger.unref();
  }

  /** A session changed somewhere: read now, or straight after the read under way. */
  private changed(): void {
    if (this.waiters.size === 0) return;
    if (this.polling) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    this.schedule(0);
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
        if (s?.state === "done" || (s?.written && w.until === "written")) this.settle(w);
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
    if (this.waiters.size === 0) {
      this.failures = 0;
      if (this.watch === "on") this.lingerThenStop();
    }
    // After a failed read, wait longer each time (0.25, 0.5, 1, 2 s): a restarting database
    // gets a few seconds.
    const backoff = this.failures ? Math.min(250 * 2 ** (this.failures - 1), 4000) : 0;
    const again = this.again && backoff === 0;
    this.again = false;
    this.schedule(again ? 0 : Math.max(backoff, this.nextDelay()));
  }

  private async read(tokens: string[]): Promise<Map<string, SessionProgress>> {
    const out = new Map<string, SessionProgress>();
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

  /** Without notices, fast while any wait is young; never past the nearest deadline. */
  private nextDelay(): number {
    const now = Date.now();
    const { fastMs, slowMs, fastForMs } = sessionPolling;
    const notices = this.watch === "on";
    let delay = slowMs;
    for (const w of this.waiters) {
      if (!notices && now - w.started < fastForMs) delay = Math.min(delay, fastMs);
      delay = Math.min(delay, Math.max(0, w.end - now));
    }
    return delay;
  }
}

const watches = new WeakMap<Store, SessionWatch>();

/**
 * Resolves when the session is done (or, with `until: "written"`, as soon as its installer said
 * the OS is on the disk, if that comes first); rejects when it failed, vanished or missed its
 * deadline.
 */
export function waitForSession(
  store: Store,
  token: string,
  deadlineMs: number,
  what: string,
  until: "done" | "written" = "done",
): Promise<void> {
  let watch = watches.get(store);
  if (!watch) {
    watch = new SessionWatch(store);
    watches.set(store, watch);
  }
  return watch.wait(token, deadlineMs, what, until);
}

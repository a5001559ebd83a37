// Named holds shared by every process on one store (Store.hold): the waiting, the taking of
// turns, and the error when another process keeps one too long. The backends say only how a
// hold is taken and given back.
import { CodedError } from "../coded-error";
import { NamedLocks } from "../lock";

export class HoldTimeout extends CodedError<"HoldTimeout"> {
  constructor(
    readonly hold: string,
    readonly waitedMs: number,
    location: string,
  ) {
    super(
      "HoldTimeout",
      `${hold} on the store ${location}: another process has held it for ${(waitedMs / 1000).toFixed(1)} s`,
    );
  }
}

export class HoldLost extends CodedError<"HoldLost"> {
  constructor(
    readonly hold: string,
    location: string,
  ) {
    super(
      "HoldLost",
      `${hold} on the store ${location}: the hold went with its database connection during the change and ` +
        "could not be taken back at once (another process may have taken it, or the database was away): " +
        "the change may have overlapped another's; run again to check and finish it",
    );
  }
}

/** The longest pause between tries: a waiting process looks at least this often. */
export const POLL_MS = 25;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface HoldPrimitive {
  /** Takes the hold if no other process has it; false when one does. */
  take(name: string): boolean | Promise<boolean>;
  give(name: string): void | Promise<void>;
  /** Whether this process lost the hold while it had it (a backend whose lock can go without it). */
  lost?(name: string): boolean;
}

export class Holds {
  // This process's holders of a name queue here first: the primitive is per process.
  private readonly locks = new NamedLocks();
  /** Per name: until when this process leaves the hold to others after giving it back. */
  private readonly courtesy = new Map<string, number>();

  constructor(
    private readonly primitive: HoldPrimitive,
    private readonly location: string,
  ) {}

  run<T>(name: string, waitMs: number, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(name, async () => {
      const until = this.courtesy.get(name) ?? 0;
      if (until > Date.now()) await pause(until - Date.now());
      await this.wait(name, waitMs);
      const start = Date.now();
      let lost: boolean;
      let result: T;
      try {
        result = await fn();
      } finally {
        lost = this.primitive.lost?.(name) ?? false;
        await this.primitive.give(name);
        // Waiting is polling, so whoever gives a hold back could take it again before another
        // process looks: a process with a queue of changes for one switch (a rack's servers,
        // each change seconds on NVUE) would keep it until its queue ran dry, past the others'
        // wait limit. So the next holder here lets a quarter of the last hold go by first, up
        // to a little more than the pause between tries: enough for a waiting process to look
        // when holds are long, and next to nothing when they are short.
        this.courtesy.set(name, Date.now() + Math.min((Date.now() - start) / 4, POLL_MS + 5));
      }
      // Done, but maybe not alone: say so rather than report a change that may be mixed up.
      if (lost) throw new HoldLost(name, this.location);
      return result;
    });
  }

  /**
   * Tries until the hold is taken, pausing 2 ms, doubling to POLL_MS, between tries. Polling,
   * not a blocking wait: a waiter keeps no connection busy and no thread asleep.
   */
  private async wait(name: string, waitMs: number): Promise<void> {
    const started = Date.now();
    for (let delay = 2; ; delay = Math.min(delay * 2, POLL_MS)) {
      if (await this.primitive.take(name)) return;
      const waited = Date.now() - started;
      if (waited >= waitMs) throw new HoldTimeout(name, waited, this.location);
      await pause(Math.min(delay, waitMs - waited));
    }
  }
}

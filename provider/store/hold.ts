// Named holds shared by every process on one store (Store.hold): how long to wait, and the
// error when another process keeps one past that.
import { CodedError } from "../coded-error";

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

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Tries `take` until it succeeds, pausing 2 ms, doubling to 50 ms, between tries (a hold is
 * a switch change of tens of milliseconds: waiting longer than that between tries only adds
 * latency). Polling, not a blocking wait: a waiter keeps no connection busy.
 */
export async function waitFor(
  take: () => boolean | Promise<boolean>,
  hold: string,
  waitMs: number,
  location: string,
): Promise<void> {
  const started = Date.now();
  for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
    if (await take()) return;
    const waited = Date.now() - started;
    if (waited >= waitMs) throw new HoldTimeout(hold, waited, location);
    await pause(Math.min(delay, waitMs - waited));
  }
}

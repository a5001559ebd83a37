// Deadlines and bounded retries shared by the BMC and switch drivers.
import { HardwareError, type HardwareErrorCode } from "./errors";

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Settles with `work` or rejects with `code` after `ms`, whichever comes first. `work` gets an
 * AbortSignal that fires at the deadline so it can stop what it started (a child process, a
 * request) instead of running on unseen.
 */
export async function withDeadline<T>(
  ms: number,
  code: HardwareErrorCode,
  message: string,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new HardwareError(code, message));
    }, ms);
  });
  try {
    return await Promise.race([work(controller.signal), expired]);
  } finally {
    clearTimeout(timer);
  }
}

export interface RetryPolicy {
  /** Total attempts, the first included. */
  attempts: number;
  /** Delay before the second attempt; doubles after each further failure, with jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
}

/** The longest a Retry-After is honoured before the next attempt. */
export const MAX_RETRY_AFTER_MS = 30_000;

export const DEFAULT_RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 200, maxDelayMs: 2000 };

/** Runs `work` again after transient hardware errors, up to the policy's bound. */
export async function retrying<T>(policy: RetryPolicy, work: (attempt: number) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work(attempt);
    } catch (e) {
      const transient = e instanceof HardwareError && e.transient;
      if (!transient || attempt >= policy.attempts) throw e;
      const delay = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
      // A device that said how long to wait (Retry-After) is given that, up to a bound.
      const asked = Math.min(e.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS);
      await sleep(Math.max(asked, delay / 2 + Math.random() * (delay / 2)));
    }
  }
}

/**
 * Polls `read` until `done` holds or the deadline passes. The caller has already asked the
 * device for a change; this is the read-back that makes the change count.
 */
export async function pollUntil<T>(opts: {
  read: () => Promise<T>;
  done: (value: T) => boolean;
  deadlineMs: number;
  intervalMs: number;
  onTimeout: (last: T | undefined) => Error;
}): Promise<T> {
  const end = Date.now() + opts.deadlineMs;
  let last: T | undefined;
  for (;;) {
    last = await opts.read();
    if (opts.done(last)) return last;
    const left = end - Date.now();
    if (left <= 0) throw opts.onTimeout(last);
    await sleep(Math.min(opts.intervalMs, left));
  }
}

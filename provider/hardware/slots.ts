/**
 * At most `size` holders at once; the others wait in arrival order, each only until its own
 * signal aborts. Bounds the requests in flight to one BMC, whatever number of servers (and
 * drivers) the provider works on: Node's agent cannot, as it counts a connection only once
 * its TLS handshake (and our certificate pin check) is done.
 */
export class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1)
      throw new RangeError(`slots: size must be a positive integer, got ${size}`);
    this.free = size;
  }

  async run<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    await this.take(signal);
    try {
      return await fn();
    } finally {
      this.give();
    }
  }

  /** Holders waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  private take(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const granted = () => {
        signal.removeEventListener("abort", gaveUp);
        resolve();
      };
      const gaveUp = () => {
        this.waiting.splice(this.waiting.indexOf(granted), 1);
        reject(signal.reason);
      };
      this.waiting.push(granted);
      signal.addEventListener("abort", gaveUp, { once: true });
    });
  }

  private give(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

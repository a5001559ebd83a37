// Serialization within this process. Across processes, Store.hold.

/** Runs `fn` after every earlier holder is done, whatever they did. */
export class Lock {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/** One Lock per name, made on first use (a store's named holds: a handful of switches). */
export class NamedLocks {
  private readonly locks = new Map<string, Lock>();
  run<T>(name: string, fn: () => Promise<T>): Promise<T> {
    let lock = this.locks.get(name);
    if (!lock) this.locks.set(name, (lock = new Lock()));
    return lock.run(fn);
  }
}

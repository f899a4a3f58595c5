/**
 * Listeners grouped by key (a CID, say): `add` returns the function that removes the listener,
 * and a key with no listener left takes no memory. `emit` calls every listener of one key,
 * including those a listener removes while it runs.
 */
export class KeyedListeners<A extends unknown[] = []> {
  private readonly byKey = new Map<string, Set<(...args: A) => void>>()

  /** Whether any key has a listener (a cheap check before building what `emit` would pass). */
  get size (): number { return this.byKey.size }

  add (key: string, fn: (...args: A) => void): () => void {
    let set = this.byKey.get(key)
    if (set === undefined) { set = new Set(); this.byKey.set(key, set) }
    const listeners = set
    // A wrapper, so the same function added twice is removed once per add.
    const entry = (...args: A): void => { fn(...args) }
    listeners.add(entry)
    return () => {
      listeners.delete(entry)
      if (listeners.size === 0 && this.byKey.get(key) === listeners) this.byKey.delete(key)
    }
  }

  emit (key: string, ...args: A): void {
    const set = this.byKey.get(key)
    if (set !== undefined) for (const fn of [...set]) fn(...args)
  }

  /** Calls every listener of every key. */
  emitAll (...args: A): void {
    for (const set of [...this.byKey.values()]) for (const fn of [...set]) fn(...args)
  }
}

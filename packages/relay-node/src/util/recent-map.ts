/**
 * A Map of at most `max` keys: a set moves its key last, and a set past `max` drops the key set longest ago. What a
 * node remembers per gateway or user (hints that only save a read) stays bounded this way; lru-cache would allocate its
 * whole capacity up front, which every idle node would pay for each such map.
 */
export class RecentMap<K, V> {
  private readonly map = new Map<K, V>();

  constructor(readonly max: number) {}

  /** The value last set for `key`. */
  get(key: K): V | undefined {
    return this.map.get(key);
  }

  /** Sets `key` as the most recent, dropping the least recent key where that makes one too many. */
  set(key: K, value: V): void {
    // Deleted first, so the key moves to the end of the insertion order the drop follows.
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as K);
  }

  /** Forgets `key`. */
  delete(key: K): void {
    this.map.delete(key);
  }

  /** How many keys are held. */
  get size(): number {
    return this.map.size;
  }
}

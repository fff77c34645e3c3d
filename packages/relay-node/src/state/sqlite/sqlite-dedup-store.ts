import type { Database, Statement } from 'better-sqlite3';
import type { DedupStore } from '../dedup-store.js';

/** Options for {@link SqliteDedupStore}. */
export interface SqliteDedupStoreOptions {
  /** Clock in epoch ms; expiry is judged by it. */
  now?: () => number;
  /** How often (by the clock) expired keys are deleted. */
  pruneIntervalMs?: number;
}

/** Claimed keys in the single-node SQLite file, so a restart does not hand on a message twice. */
export class SqliteDedupStore implements DedupStore {
  private readonly now: () => number;
  private readonly pruneIntervalMs: number;
  private lastPrune: number;
  private readonly claimRow: Statement<[string, number, number]>;
  private readonly deleteExpired: Statement<[number]>;

  /** `db` must come from openSqliteDatabase; the store never closes it. */
  constructor(db: Database, options: SqliteDedupStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.pruneIntervalMs = options.pruneIntervalMs ?? 60_000;
    this.lastPrune = Number.NEGATIVE_INFINITY;
    // One statement decides: a new key inserts, an expired key is taken over, a live key changes nothing.
    this.claimRow = db.prepare(
      'INSERT INTO dedup_keys (key, expires_at) VALUES (?, ?) ' +
        'ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE dedup_keys.expires_at <= ?',
    );
    this.deleteExpired = db.prepare('DELETE FROM dedup_keys WHERE expires_at <= ?');
  }

  /** True the first time a key is claimed within ttlMs; false for every later claim until it expires. */
  async claim(key: string, ttlMs: number): Promise<boolean> {
    const now = this.now();
    this.prune(now);
    return this.claimRow.run(key, now + ttlMs, now).changes === 1;
  }

  /** The Database belongs to the caller; nothing else to release. */
  async close(): Promise<void> {}

  private prune(now: number): void {
    if (now - this.lastPrune < this.pruneIntervalMs) return;
    this.lastPrune = now;
    this.deleteExpired.run(now);
  }
}

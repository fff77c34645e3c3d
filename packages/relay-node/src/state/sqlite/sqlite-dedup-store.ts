import type { Database, Statement } from 'better-sqlite3';
import type { DecisionRequest, DedupStore } from '../dedup-store.js';

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
  private readonly selectLiveValue: Statement<[string, number], { value: string | null }>;
  private readonly decideTx: (key: string, value: string, ttlMs: number) => string;

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
    // Decisions share the dedup keyspace (their keys are the caller's, e.g. `r:<msgid>`), with the value beside.
    const decideRow: Statement<[string, string, number, number]> = db.prepare(
      'INSERT INTO dedup_keys (key, value, expires_at) VALUES (?, ?, ?) ' +
        'ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at WHERE dedup_keys.expires_at <= ?',
    );
    const selectValue: Statement<[string], { value: string | null }> = db.prepare('SELECT value FROM dedup_keys WHERE key = ?');
    this.selectLiveValue = db.prepare('SELECT value FROM dedup_keys WHERE key = ? AND expires_at > ?');
    this.decideTx = db.transaction((key: string, value: string, ttlMs: number) => {
      const now = this.now();
      decideRow.run(key, value, now + ttlMs, now);
      return selectValue.get(key)?.value ?? value;
    }).immediate;
  }

  /** True the first time a key is claimed within ttlMs; false for every later claim until it expires. */
  async claim(key: string, ttlMs: number): Promise<boolean> {
    const now = this.now();
    this.prune(now);
    return this.claimRow.run(key, now + ttlMs, now).changes === 1;
  }

  /** The first live value recorded under the key; records `value` when there is none. */
  async decide(key: string, value: string, ttlMs: number): Promise<string> {
    this.prune(this.now());
    return this.decideTx(key, value, ttlMs);
  }

  /** Each decision in turn: nothing to save on round trips here. */
  async decideMany(entries: readonly DecisionRequest[], ttlMs: number): Promise<string[]> {
    const values: string[] = [];
    for (const { key, value } of entries) values.push(await this.decide(key, value, ttlMs));
    return values;
  }

  /** The live value recorded under the key, or null. */
  async recall(key: string): Promise<string | null> {
    return this.selectLiveValue.get(key, this.now())?.value ?? null;
  }

  /** The Database belongs to the caller; nothing else to release. */
  async close(): Promise<void> {}

  private prune(now: number): void {
    if (now - this.lastPrune < this.pruneIntervalMs) return;
    this.lastPrune = now;
    this.deleteExpired.run(now);
  }
}

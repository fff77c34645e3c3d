import type { Database, Statement } from 'better-sqlite3';
import type { PendingBindingStore } from '../pending-binding-store.js';

/** Options for {@link SqlitePendingBindingStore}. */
export interface SqlitePendingBindingStoreOptions {
  /** Clock in epoch ms; expiry is judged by it. */
  now?: () => number;
  /** How often (by the clock) expired tokens are deleted, so unscanned QR codes do not pile up. */
  pruneIntervalMs?: number;
}

/** Pending QR tokens in the single-node SQLite file, each with its own expires_at; they survive restarts. */
export class SqlitePendingBindingStore implements PendingBindingStore {
  private readonly now: () => number;
  private readonly pruneIntervalMs: number;
  private lastPrune: number;
  private readonly upsert: Statement<[string, string, number]>;
  private readonly selectLive: Statement<[string, number], { gateway_id: string }>;
  private readonly deleteExpired: Statement<[number]>;

  /** `db` must come from openSqliteDatabase; the store never closes it. */
  constructor(db: Database, options: SqlitePendingBindingStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.pruneIntervalMs = options.pruneIntervalMs ?? 60_000;
    this.lastPrune = Number.NEGATIVE_INFINITY;
    this.upsert = db.prepare(
      'INSERT INTO pending_bindings (token, gateway_id, expires_at) VALUES (?, ?, ?) ' +
        'ON CONFLICT (token) DO UPDATE SET gateway_id = excluded.gateway_id, expires_at = excluded.expires_at',
    );
    this.selectLive = db.prepare('SELECT gateway_id FROM pending_bindings WHERE token = ? AND expires_at > ?');
    this.deleteExpired = db.prepare('DELETE FROM pending_bindings WHERE expires_at <= ?');
  }

  /** Issues (or re-issues) a token for a gateway until ttlMs has passed. */
  async put(token: string, gatewayId: string, ttlMs: number): Promise<void> {
    const now = this.now();
    this.prune(now);
    this.upsert.run(token, gatewayId, now + ttlMs);
  }

  /** The gateway a live token was issued to, or null. */
  async lookup(token: string): Promise<string | null> {
    return this.selectLive.get(token, this.now())?.gateway_id ?? null;
  }

  /** The Database belongs to the caller; nothing else to release. */
  async close(): Promise<void> {}

  private prune(now: number): void {
    if (now - this.lastPrune < this.pruneIntervalMs) return;
    this.lastPrune = now;
    this.deleteExpired.run(now);
  }
}

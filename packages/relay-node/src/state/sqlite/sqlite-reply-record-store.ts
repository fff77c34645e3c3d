import type { Database, Statement } from 'better-sqlite3';
import type { ReplyClaim, ReplyKey, ReplyRecord, ReplyRecordStore } from '../reply-record-store.js';

type Row = { owner: string | null; record: string | null };

/** Reply records in the single-node SQLite file: a row holds either a claim (owner) or the record. */
export class SqliteReplyRecordStore implements ReplyRecordStore {
  private readonly now: () => number;
  private lastPrune = Number.NEGATIVE_INFINITY;
  private readonly select: Statement<[string, string, string, number], Row>;
  private readonly upsert: Statement<[string, string, string, string | null, string | null, number]>;
  private readonly extendOwned: Statement<[number, string, string, string, string]>;
  private readonly deleteOwned: Statement<[string, string, string, string]>;
  private readonly prune: Statement<[number]>;
  private readonly claimTx: (key: ReplyKey, owner: string, claimTtlMs: number) => ReplyClaim;

  /** `db` must come from openSqliteDatabase; the store never closes it. */
  constructor(db: Database, options: { now?: () => number } = {}) {
    this.now = options.now ?? Date.now;
    this.select = db.prepare(
      'SELECT owner, record FROM reply_records WHERE gateway_id = ? AND request_id = ? AND fingerprint = ? AND expires_at > ?',
    );
    this.upsert = db.prepare('INSERT OR REPLACE INTO reply_records VALUES (?, ?, ?, ?, ?, ?)');
    this.extendOwned = db.prepare(
      'UPDATE reply_records SET expires_at = ? WHERE gateway_id = ? AND request_id = ? AND fingerprint = ? AND owner = ?',
    );
    this.deleteOwned = db.prepare(
      'DELETE FROM reply_records WHERE gateway_id = ? AND request_id = ? AND fingerprint = ? AND owner = ?',
    );
    this.prune = db.prepare('DELETE FROM reply_records WHERE expires_at <= ?');
    this.claimTx = db.transaction((key: ReplyKey, owner: string, claimTtlMs: number): ReplyClaim => {
      const now = this.now();
      const row = this.select.get(key.gatewayId, key.requestId, key.fingerprint, now);
      if (row?.record) return { state: 'done', record: JSON.parse(row.record) as ReplyRecord };
      if (row) return { state: 'in_flight' };
      this.upsert.run(key.gatewayId, key.requestId, key.fingerprint, owner, null, now + claimTtlMs);
      return { state: 'claimed' };
    }).immediate;
  }

  async claim(key: ReplyKey, owner: string, claimTtlMs: number): Promise<ReplyClaim> {
    this.maybePrune();
    return this.claimTx(key, owner, claimTtlMs);
  }

  async extend(key: ReplyKey, owner: string, claimTtlMs: number): Promise<boolean> {
    const live = this.select.get(key.gatewayId, key.requestId, key.fingerprint, this.now());
    if (!live || live.owner !== owner) return false;
    return this.extendOwned.run(this.now() + claimTtlMs, key.gatewayId, key.requestId, key.fingerprint, owner).changes > 0;
  }

  async complete(key: ReplyKey, record: ReplyRecord, ttlMs: number): Promise<void> {
    this.upsert.run(key.gatewayId, key.requestId, key.fingerprint, null, JSON.stringify(record), this.now() + ttlMs);
  }

  async release(key: ReplyKey, owner: string): Promise<void> {
    this.deleteOwned.run(key.gatewayId, key.requestId, key.fingerprint, owner);
  }

  async close(): Promise<void> {
    // The database belongs to whoever opened it.
  }

  private maybePrune(): void {
    const now = this.now();
    if (now - this.lastPrune < 60_000) return;
    this.lastPrune = now;
    this.prune.run(now);
  }
}

import type { Database, Statement } from 'better-sqlite3';
import type { QueuedEvent } from '@wecom-relay/shared';
import { queueDedupOf, type DeliveryQueue, type QueueAppendEntry, type QueueAppendOptions, type QueuedItem } from '../delivery-queue.js';
import { parseNumericDeliveryId } from '../memory/numeric-delivery-id.js';

/** Options for {@link SqliteDeliveryQueue}. */
export interface SqliteDeliveryQueueOptions {
  /** Clock in epoch ms; enqueuedAt and age trimming come from it. */
  now?: () => number;
  /** How often (by the clock) expired dedup keys are deleted. */
  pruneIntervalMs?: number;
}

/** A queue row as stored. */
interface QueueRow {
  id: number;
  event: string;
  enqueued_at: number;
}

/**
 * Delivery queues in the single-node SQLite file. Ids are the table's AUTOINCREMENT ids as decimal strings,
 * never reused even after rows are deleted, so order by id is order of append across restarts.
 */
export class SqliteDeliveryQueue implements DeliveryQueue {
  private readonly now: () => number;
  private readonly pruneIntervalMs: number;
  private lastPrune = Number.NEGATIVE_INFINITY;
  private readonly claimKey: Statement<{ gateway: string; key: string; expiresAt: number; now: number }>;
  private readonly deleteExpiredKeys: Statement<[number]>;
  private readonly appendOnceTx: (gatewayId: string, key: string, expiresAt: number, now: number, event: string) => string | null;
  private readonly appendManyTx: (gatewayId: string, entries: ReadonlyArray<{ json: string; key: string | null; ttlMs: number }>, now: number) => Array<string | null>;
  private readonly insert: Statement<[string, string, number]>;
  private readonly selectAfter: Statement<[string, number, number], QueueRow>;
  private readonly upsertAck: Statement<[string, number]>;
  private readonly deleteUpTo: Statement<[string, number]>;
  private readonly selectAck: Statement<[string], { acked_id: number }>;
  private readonly deleteOlderThan: Statement<[string, number]>;
  private readonly deleteBeyond: Statement<[{ gateway: string; keep: number }]>;
  private readonly ackTx: (gatewayId: string, seq: number) => void;
  private readonly trimTx: (gatewayId: string, cutoff: number, maxItems: number) => number;
  private readonly selectBacklog: Statement<[string], { items: number; oldest: number | null }>;

  /** `db` must come from openSqliteDatabase; the queue never closes it. */
  constructor(db: Database, options: SqliteDeliveryQueueOptions = {}) {
    this.now = options.now ?? Date.now;
    this.pruneIntervalMs = options.pruneIntervalMs ?? 60_000;
    this.insert = db.prepare('INSERT INTO delivery_queue (gateway_id, event, enqueued_at) VALUES (?, ?, ?)');
    // One statement decides: a new key inserts, an expired key is taken over, a live key changes nothing.
    this.claimKey = db.prepare(
      'INSERT INTO delivery_dedup (gateway_id, dedup_key, expires_at) VALUES (@gateway, @key, @expiresAt) ' +
        'ON CONFLICT (gateway_id, dedup_key) DO UPDATE SET expires_at = excluded.expires_at ' +
        'WHERE delivery_dedup.expires_at <= @now',
    );
    this.deleteExpiredKeys = db.prepare('DELETE FROM delivery_dedup WHERE expires_at <= ?');
    this.selectAfter = db.prepare(
      'SELECT id, event, enqueued_at FROM delivery_queue WHERE gateway_id = ? AND id > ? ORDER BY id LIMIT ?',
    );
    // The pointer only moves forward: a late ack from an old socket must not make delivered items current again.
    this.upsertAck = db.prepare(
      'INSERT INTO delivery_acks (gateway_id, acked_id) VALUES (?, ?) ' +
        'ON CONFLICT (gateway_id) DO UPDATE SET acked_id = max(acked_id, excluded.acked_id)',
    );
    this.deleteUpTo = db.prepare('DELETE FROM delivery_queue WHERE gateway_id = ? AND id <= ?');
    this.selectAck = db.prepare('SELECT acked_id FROM delivery_acks WHERE gateway_id = ?');
    this.selectBacklog = db.prepare('SELECT COUNT(*) AS items, MIN(enqueued_at) AS oldest FROM delivery_queue WHERE gateway_id = ?');
    this.deleteOlderThan = db.prepare('DELETE FROM delivery_queue WHERE gateway_id = ? AND enqueued_at < ?');
    this.deleteBeyond = db.prepare(
      'DELETE FROM delivery_queue WHERE gateway_id = @gateway AND id <= (' +
        'SELECT id FROM delivery_queue WHERE gateway_id = @gateway ORDER BY id DESC LIMIT 1 OFFSET @keep)',
    );
    this.ackTx = db.transaction((gatewayId: string, seq: number) => {
      this.upsertAck.run(gatewayId, seq);
      this.deleteUpTo.run(gatewayId, seq);
    });
    // The key and the row commit together or not at all, so a crash can neither lose the event nor append it twice.
    const appendOnce = db.transaction((gatewayId: string, key: string, expiresAt: number, now: number, event: string) => {
      if (this.claimKey.run({ gateway: gatewayId, key, expiresAt, now }).changes !== 1) return null;
      return String(this.insert.run(gatewayId, event, now).lastInsertRowid);
    });
    // IMMEDIATE takes the write lock up front, so another process sharing the file cannot interleave its own check.
    this.appendOnceTx = appendOnce.immediate;
    const appendMany = db.transaction((gatewayId: string, entries: ReadonlyArray<{ json: string; key: string | null; ttlMs: number }>, now: number) =>
      entries.map(({ json, key, ttlMs }) => {
        if (key !== null && this.claimKey.run({ gateway: gatewayId, key, expiresAt: now + ttlMs, now }).changes !== 1) return null;
        return String(this.insert.run(gatewayId, json, now).lastInsertRowid);
      }),
    );
    this.appendManyTx = appendMany.immediate;
    this.trimTx = db.transaction((gatewayId: string, cutoff: number, maxItems: number) => {
      const byAge = this.deleteOlderThan.run(gatewayId, cutoff).changes;
      const byCount = this.deleteBeyond.run({ gateway: gatewayId, keep: maxItems }).changes;
      return byAge + byCount;
    });
  }

  /** Appends an event unless its dedupKey is still remembered for this gateway; resolves to the id or null. */
  append(gatewayId: string, event: QueuedEvent): Promise<string>;
  append(gatewayId: string, event: QueuedEvent, options?: QueueAppendOptions): Promise<string | null>;
  async append(gatewayId: string, event: QueuedEvent, options?: QueueAppendOptions): Promise<string | null> {
    const dedup = queueDedupOf(options);
    const json = JSON.stringify(event);
    const now = this.now();
    if (dedup === null) return String(this.insert.run(gatewayId, json, now).lastInsertRowid);
    this.prune(now);
    return this.appendOnceTx(gatewayId, dedup.key, now + dedup.ttlMs, now, json);
  }

  /** Appends the entries in order in one IMMEDIATE transaction: all of them or, on a failure, none. */
  async appendMany(gatewayId: string, entries: readonly QueueAppendEntry[]): Promise<Array<string | null>> {
    const rows = entries.map(({ event, options }) => {
      const dedup = queueDedupOf(options);
      return { json: JSON.stringify(event), key: dedup?.key ?? null, ttlMs: dedup?.ttlMs ?? 0 };
    });
    if (rows.length === 0) return [];
    const now = this.now();
    this.prune(now);
    return this.appendManyTx(gatewayId, rows, now);
  }

  /** Items after afterId (exclusive), oldest first, at most limit. */
  async readAfter(gatewayId: string, afterId: string | null, limit: number): Promise<QueuedItem[]> {
    const after = afterId === null ? 0 : parseNumericDeliveryId(afterId);
    if (limit <= 0) return [];
    return this.selectAfter.all(gatewayId, after, Math.floor(limit)).map((row) => ({
      id: String(row.id),
      event: JSON.parse(row.event) as QueuedEvent,
      enqueuedAt: row.enqueued_at,
    }));
  }

  /** Moves the delivered pointer forward to id (never back) and deletes what it covers. */
  async ack(gatewayId: string, id: string): Promise<void> {
    this.ackTx(gatewayId, parseNumericDeliveryId(id));
  }

  /** The last id recorded as delivered, or null. */
  async lastAcked(gatewayId: string): Promise<string | null> {
    const row = this.selectAck.get(gatewayId);
    return row === undefined ? null : String(row.acked_id);
  }

  /** Rows still kept for the gateway and when the oldest was appended. */
  async backlog(gatewayId: string): Promise<{ items: number; oldestEnqueuedAt: number | null }> {
    const row = this.selectBacklog.get(gatewayId);
    return { items: row?.items ?? 0, oldestEnqueuedAt: row?.oldest ?? null };
  }

  /** Drops items older than maxAgeMs, then the oldest beyond maxItems; resolves to how many went. */
  async trim(gatewayId: string, limits: { maxAgeMs: number; maxItems: number }): Promise<number> {
    return this.trimTx(gatewayId, this.now() - limits.maxAgeMs, Math.max(0, Math.floor(limits.maxItems)));
  }

  /** The Database belongs to the caller; nothing else to release. */
  async close(): Promise<void> {}

  private prune(now: number): void {
    if (now - this.lastPrune < this.pruneIntervalMs) return;
    this.lastPrune = now;
    this.deleteExpiredKeys.run(now);
  }
}

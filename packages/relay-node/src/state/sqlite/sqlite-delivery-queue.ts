import type { Database, Statement } from 'better-sqlite3';
import type { QueuedEvent } from '@wecom-relay/shared';
import type { DeliveryQueue, QueuedItem } from '../delivery-queue.js';
import { parseNumericDeliveryId } from '../memory/numeric-delivery-id.js';

/** Options for {@link SqliteDeliveryQueue}. */
export interface SqliteDeliveryQueueOptions {
  /** Clock in epoch ms; enqueuedAt and age trimming come from it. */
  now?: () => number;
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
  private readonly insert: Statement<[string, string, number]>;
  private readonly selectAfter: Statement<[string, number, number], QueueRow>;
  private readonly upsertAck: Statement<[string, number]>;
  private readonly deleteUpTo: Statement<[string, number]>;
  private readonly selectAck: Statement<[string], { acked_id: number }>;
  private readonly deleteOlderThan: Statement<[string, number]>;
  private readonly deleteBeyond: Statement<[{ gateway: string; keep: number }]>;
  private readonly ackTx: (gatewayId: string, seq: number) => void;
  private readonly trimTx: (gatewayId: string, cutoff: number, maxItems: number) => number;

  /** `db` must come from openSqliteDatabase; the queue never closes it. */
  constructor(db: Database, options: SqliteDeliveryQueueOptions = {}) {
    this.now = options.now ?? Date.now;
    this.insert = db.prepare('INSERT INTO delivery_queue (gateway_id, event, enqueued_at) VALUES (?, ?, ?)');
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
    this.deleteOlderThan = db.prepare('DELETE FROM delivery_queue WHERE gateway_id = ? AND enqueued_at < ?');
    this.deleteBeyond = db.prepare(
      'DELETE FROM delivery_queue WHERE gateway_id = @gateway AND id <= (' +
        'SELECT id FROM delivery_queue WHERE gateway_id = @gateway ORDER BY id DESC LIMIT 1 OFFSET @keep)',
    );
    this.ackTx = db.transaction((gatewayId: string, seq: number) => {
      this.upsertAck.run(gatewayId, seq);
      this.deleteUpTo.run(gatewayId, seq);
    });
    this.trimTx = db.transaction((gatewayId: string, cutoff: number, maxItems: number) => {
      const byAge = this.deleteOlderThan.run(gatewayId, cutoff).changes;
      const byCount = this.deleteBeyond.run({ gateway: gatewayId, keep: maxItems }).changes;
      return byAge + byCount;
    });
  }

  /** Appends an event; resolves to its id. */
  async append(gatewayId: string, event: QueuedEvent): Promise<string> {
    const result = this.insert.run(gatewayId, JSON.stringify(event), this.now());
    return String(result.lastInsertRowid);
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

  /** Drops items older than maxAgeMs, then the oldest beyond maxItems; resolves to how many went. */
  async trim(gatewayId: string, limits: { maxAgeMs: number; maxItems: number }): Promise<number> {
    return this.trimTx(gatewayId, this.now() - limits.maxAgeMs, Math.max(0, Math.floor(limits.maxItems)));
  }

  /** The Database belongs to the caller; nothing else to release. */
  async close(): Promise<void> {}
}

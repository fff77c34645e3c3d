import type { Database, Statement } from 'better-sqlite3';
import type { LedgerAccountOptions, OutboundLedger, SendReservation, SendWindow, SentReply, WindowRule } from '../outbound-ledger.js';

/** msgids remembered per customer second (to tell a new message from a repeated one). */
const MAX_IDS = 50;
/** Windows untouched this long are forgotten; WeCom's lasts 48 h. */
const WINDOW_TTL_MS = 3 * 24 * 3600 * 1000;

/**
 * The outbound ledger in the single-node SQLite file: one send_windows row per (user, account), the first configured
 * account's under open_kfid '' where a single-account relay's rows already are.
 */
export class SqliteOutboundLedger implements OutboundLedger {
  private readonly now: () => number;
  private readonly firstOpenKfid: string | undefined;
  private lastPrune = Number.NEGATIVE_INFINITY;
  private readonly spoke: (user: string, kf: string, atMs: number, msgid: string) => void;
  private readonly sent: Statement<[string, string, number]>;
  private readonly remember: Statement<[string, string, string, string, number]>;
  private readonly selectWindow: Statement<[string, string, number], { last_customer_at: number | null; sent_since: number }>;
  private readonly selectSender: Statement<[string, number], { gateway_id: string; request_id: string; external_user_id: string }>;
  private readonly prune: Statement<[number]>;
  private readonly reserve: (user: string, kf: string, atMs: number, rule: WindowRule) => SendReservation;
  private readonly unreserve: Statement<[string, string, number | null]>;
  private readonly close_: Statement<[string, string, number, number, number]>;
  private readonly pruneSenders: Statement<[number]>;

  /** `db` must come from openSqliteDatabase; the ledger never closes it. */
  constructor(db: Database, options: { now?: () => number } & LedgerAccountOptions = {}) {
    this.now = options.now ?? Date.now;
    this.firstOpenKfid = options.firstOpenKfid;
    const selectLast = db.prepare<[string, string], { last_customer_at: number | null; last_ids: string }>(
      'SELECT last_customer_at, last_ids FROM send_windows WHERE external_user_id = ? AND open_kfid = ?',
    );
    const restart = db.prepare<[string, string, number, string, number]>(
      `INSERT INTO send_windows (external_user_id, open_kfid, last_customer_at, sent_since, last_ids, touched_at) VALUES (?, ?, ?, 0, ?, ?)
       ON CONFLICT (external_user_id, open_kfid) DO UPDATE SET
         last_customer_at = excluded.last_customer_at, sent_since = 0, last_ids = excluded.last_ids, touched_at = excluded.touched_at`,
    );
    // A newer message restarts the window; so does one of the same second not seen before (WeCom's times are seconds).
    this.spoke = db.transaction((user: string, kf: string, atMs: number, msgid: string) => {
      const row = selectLast.get(user, kf);
      const last = row?.last_customer_at ?? null;
      if (last === null || atMs > last) {
        restart.run(user, kf, atMs, msgid, this.now());
        return;
      }
      const ids = row?.last_ids ? row.last_ids.split('\n') : [];
      if (atMs === last && msgid !== '' && !ids.includes(msgid)) {
        restart.run(user, kf, atMs, [...ids, msgid].slice(-MAX_IDS).join('\n'), this.now());
      }
    }).immediate;
    this.sent = db.prepare(
      `INSERT INTO send_windows (external_user_id, open_kfid, last_customer_at, sent_since, touched_at) VALUES (?, ?, NULL, 1, ?)
       ON CONFLICT (external_user_id, open_kfid) DO UPDATE SET sent_since = sent_since + 1, touched_at = excluded.touched_at`,
    );
    this.remember = db.prepare(
      `INSERT OR REPLACE INTO sent_messages (msgid, gateway_id, request_id, external_user_id, expires_at) VALUES (?, ?, ?, ?, ?)`,
    );
    this.selectWindow = db.prepare(
      'SELECT last_customer_at, sent_since FROM send_windows WHERE external_user_id = ? AND open_kfid = ? AND touched_at > ?',
    );
    this.selectSender = db.prepare(
      'SELECT gateway_id, request_id, external_user_id FROM sent_messages WHERE msgid = ? AND expires_at > ?',
    );
    this.prune = db.prepare('DELETE FROM send_windows WHERE touched_at <= ?');
    this.unreserve = db.prepare(
      `UPDATE send_windows SET sent_since = sent_since - 1
       WHERE external_user_id = ? AND open_kfid = ? AND last_customer_at IS ? AND sent_since > 0`,
    );
    this.close_ = db.prepare(
      `INSERT INTO send_windows (external_user_id, open_kfid, last_customer_at, sent_since, touched_at) VALUES (?, ?, NULL, ?, ?)
       ON CONFLICT (external_user_id, open_kfid) DO UPDATE SET sent_since = MAX(sent_since, ?), touched_at = excluded.touched_at`,
    );
    // A window forgotten by age starts over; its stale row may still be in the file until the next prune.
    const startOver = db.prepare<[string, string, number]>(
      `INSERT INTO send_windows (external_user_id, open_kfid, last_customer_at, sent_since, touched_at) VALUES (?, ?, NULL, 1, ?)
       ON CONFLICT (external_user_id, open_kfid) DO UPDATE SET last_customer_at = NULL, sent_since = 1, touched_at = excluded.touched_at`,
    );
    // One transaction, so two reservations (two connections to the file) cannot both take the last slot.
    this.reserve = db.transaction((user: string, kf: string, atMs: number, rule: WindowRule): SendReservation => {
      const row = this.selectWindow.get(user, kf, this.now() - WINDOW_TTL_MS);
      const window = row ? { lastCustomerAt: row.last_customer_at, sentSince: row.sent_since } : { lastCustomerAt: null, sentSince: 0 };
      const granted =
        window.sentSince < rule.maxSends && (window.lastCustomerAt === null || atMs - window.lastCustomerAt <= rule.windowMs);
      if (granted) {
        if (row) this.sent.run(user, kf, this.now());
        else startOver.run(user, kf, this.now());
      }
      return { granted, window };
    }).immediate;
    this.pruneSenders = db.prepare('DELETE FROM sent_messages WHERE expires_at <= ?');
  }

  async customerSpoke(openKfid: string, externalUserId: string, atMs: number, msgid?: string): Promise<void> {
    this.maybePrune();
    this.spoke(externalUserId, this.kf(openKfid), Math.floor(atMs), msgid ?? '');
  }

  async recordSend(openKfid: string, externalUserId: string, msgid: string, sender: SentReply | null, ttlMs: number): Promise<void> {
    this.sent.run(externalUserId, this.kf(openKfid), this.now());
    if (sender) this.remember.run(msgid, sender.gatewayId, sender.requestId, sender.externalUserId, this.now() + ttlMs);
  }

  async reserveSend(openKfid: string, externalUserId: string, atMs: number, rule: WindowRule): Promise<SendReservation> {
    return this.reserve(externalUserId, this.kf(openKfid), atMs, rule);
  }

  async releaseSend(openKfid: string, externalUserId: string, lastCustomerAt: number | null): Promise<void> {
    this.unreserve.run(externalUserId, this.kf(openKfid), lastCustomerAt);
  }

  async closeWindow(openKfid: string, externalUserId: string, rule: WindowRule): Promise<void> {
    this.close_.run(externalUserId, this.kf(openKfid), rule.maxSends, this.now(), rule.maxSends);
  }

  async rememberSender(msgid: string, sender: SentReply, ttlMs: number): Promise<void> {
    this.remember.run(msgid, sender.gatewayId, sender.requestId, sender.externalUserId, this.now() + ttlMs);
  }

  async window(openKfid: string, externalUserId: string): Promise<SendWindow> {
    const row = this.selectWindow.get(externalUserId, this.kf(openKfid), this.now() - WINDOW_TTL_MS);
    return row ? { lastCustomerAt: row.last_customer_at, sentSince: row.sent_since } : { lastCustomerAt: null, sentSince: 0 };
  }

  async senderOf(msgid: string): Promise<SentReply | null> {
    const row = this.selectSender.get(msgid, this.now());
    return row ? { gatewayId: row.gateway_id, requestId: row.request_id, externalUserId: row.external_user_id } : null;
  }

  async close(): Promise<void> {
    // The database belongs to whoever opened it.
  }

  /** The row's account: '' for the first configured one, where windows written before accounts were kept are. */
  private kf(openKfid: string): string {
    return openKfid === this.firstOpenKfid ? '' : openKfid;
  }

  private maybePrune(): void {
    const now = this.now();
    if (now - this.lastPrune < 60_000) return;
    this.lastPrune = now;
    this.prune.run(now - WINDOW_TTL_MS);
    this.pruneSenders.run(now);
  }
}

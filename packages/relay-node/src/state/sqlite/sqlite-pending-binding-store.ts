import type { Database, Statement } from 'better-sqlite3';
import type { PendingBindingStore, TokenIssueLimits, TokenIssueResult } from '../pending-binding-store.js';

/** Options for {@link SqlitePendingBindingStore}. */
export interface SqlitePendingBindingStoreOptions {
  /** Clock in epoch ms; expiry is judged by it. */
  now?: () => number;
  /** How often (by the clock) expired rows are deleted, so unscanned QR codes do not pile up. */
  pruneIntervalMs?: number;
}

type Row = { token: string; created_at: number };

/** Pending QR tokens in the single-node SQLite file, each with its own expires_at; they survive restarts. */
export class SqlitePendingBindingStore implements PendingBindingStore {
  private readonly now: () => number;
  private readonly pruneIntervalMs: number;
  private lastPrune: number;
  private readonly issueTx: (token: string, gatewayId: string, ttlMs: number, limits: TokenIssueLimits) => TokenIssueResult;
  private readonly consumeTx: (token: string, eventId: string, rememberMs: number) => string | null;
  private readonly selectUsed: Statement<[string, number], { gateway_id: string }>;
  private readonly selectWindow: Statement<[string, string, number], { count: number }>;
  private readonly bumpWindow: Statement<[{ kind: string; subject: string; now: number; windowMs: number }]>;
  private readonly prunes: Array<Statement<[number]>>;

  /** `db` must come from openSqliteDatabase; the store never closes it. */
  constructor(db: Database, options: SqlitePendingBindingStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.pruneIntervalMs = options.pruneIntervalMs ?? 60_000;
    this.lastPrune = Number.NEGATIVE_INFINITY;
    const liveOfGateway: Statement<[string, number], Row> = db.prepare(
      'SELECT token, created_at FROM pending_bindings WHERE gateway_id = ? AND expires_at > ? ORDER BY created_at DESC',
    );
    const liveToken: Statement<[string, number], { gateway_id: string }> = db.prepare(
      'SELECT gateway_id FROM pending_bindings WHERE token = ? AND expires_at > ?',
    );
    // Only an expired row may be replaced: a live token is never overwritten (that would re-point someone's QR).
    const insert: Statement<[string, string, number, number, number]> = db.prepare(
      'INSERT INTO pending_bindings (token, gateway_id, created_at, expires_at) VALUES (?, ?, ?, ?) ' +
        'ON CONFLICT (token) DO UPDATE SET gateway_id = excluded.gateway_id, created_at = excluded.created_at, ' +
        'expires_at = excluded.expires_at WHERE pending_bindings.expires_at <= ?',
    );
    const take: Statement<[string, number], { gateway_id: string }> = db.prepare(
      'DELETE FROM pending_bindings WHERE token = ? AND expires_at > ? RETURNING gateway_id',
    );
    const recordUse: Statement<[string, string, number]> = db.prepare(
      'INSERT OR REPLACE INTO binding_tokens_used (event_id, gateway_id, expires_at) VALUES (?, ?, ?)',
    );
    this.selectUsed = db.prepare('SELECT gateway_id FROM binding_tokens_used WHERE event_id = ? AND expires_at > ?');
    this.selectWindow = db.prepare('SELECT count FROM binding_windows WHERE kind = ? AND subject = ? AND expires_at > ?');
    // A window starts with its first count and lasts windowMs; an expired row starts a new one.
    this.bumpWindow = db.prepare(
      'INSERT INTO binding_windows (kind, subject, count, expires_at) VALUES (@kind, @subject, 1, @now + @windowMs) ' +
        'ON CONFLICT (kind, subject) DO UPDATE SET ' +
        'count = CASE WHEN binding_windows.expires_at > @now THEN binding_windows.count + 1 ELSE 1 END, ' +
        'expires_at = CASE WHEN binding_windows.expires_at > @now THEN binding_windows.expires_at ELSE @now + @windowMs END',
    );
    this.prunes = [
      db.prepare('DELETE FROM pending_bindings WHERE expires_at <= ?'),
      db.prepare('DELETE FROM binding_tokens_used WHERE expires_at <= ?'),
      db.prepare('DELETE FROM binding_windows WHERE expires_at <= ?'),
    ];
    this.issueTx = db.transaction((token: string, gatewayId: string, ttlMs: number, limits: TokenIssueLimits): TokenIssueResult => {
      const now = this.now();
      if ((this.selectWindow.get('rate', gatewayId, now)?.count ?? 0) >= limits.ratePerWindow) return { outcome: 'rate_limited' };
      const mine = liveOfGateway.all(gatewayId, now);
      const newest = mine[0];
      if (newest && newest.token.length === token.length && newest.created_at > now - limits.reuseWithinMs) {
        this.bumpWindow.run({ kind: 'rate', subject: gatewayId, now, windowMs: limits.rateWindowMs });
        return { outcome: 'reused', token: newest.token };
      }
      if (mine.length >= limits.maxLive) return { outcome: 'too_many' };
      if (liveToken.get(token, now)) return { outcome: 'collision' };
      insert.run(token, gatewayId, now, now + ttlMs, now);
      this.bumpWindow.run({ kind: 'rate', subject: gatewayId, now, windowMs: limits.rateWindowMs });
      return { outcome: 'created', token };
    }).immediate;
    this.consumeTx = db.transaction((token: string, eventId: string, rememberMs: number): string | null => {
      const now = this.now();
      const earlier = this.selectUsed.get(eventId, now)?.gateway_id;
      if (earlier !== undefined) return earlier;
      const gatewayId = take.get(token, now)?.gateway_id;
      if (gatewayId === undefined) return null;
      recordUse.run(eventId, gatewayId, now + rememberMs);
      return gatewayId;
    }).immediate;
  }

  /** Issues a token within the gateway's limits in one transaction; never overwrites a live token. */
  async issue(token: string, gatewayId: string, ttlMs: number, limits: TokenIssueLimits): Promise<TokenIssueResult> {
    this.prune();
    return this.issueTx(token, gatewayId, ttlMs, limits);
  }

  /** DELETE … RETURNING the live token, recording the event that used it, in one transaction. */
  async consume(token: string, eventId: string, rememberMs: number): Promise<string | null> {
    return this.consumeTx(token, eventId, rememberMs);
  }

  /** The gateway this event consumed a token for, or null. */
  async consumedBy(eventId: string): Promise<string | null> {
    return this.selectUsed.get(eventId, this.now())?.gateway_id ?? null;
  }

  /** Counts a miss in the customer's window (which starts at its first miss). */
  async noteGuessMiss(externalUserId: string, windowMs: number): Promise<number> {
    const now = this.now();
    this.prune();
    this.bumpWindow.run({ kind: 'miss', subject: externalUserId, now, windowMs });
    return this.selectWindow.get('miss', externalUserId, now)?.count ?? 1;
  }

  /** Misses in the customer's current window. */
  async guessMisses(externalUserId: string): Promise<number> {
    return this.selectWindow.get('miss', externalUserId, this.now())?.count ?? 0;
  }

  /** The Database belongs to the caller; nothing else to release. */
  async close(): Promise<void> {}

  private prune(): void {
    const now = this.now();
    if (now - this.lastPrune < this.pruneIntervalMs) return;
    this.lastPrune = now;
    for (const statement of this.prunes) statement.run(now);
  }
}

import type { Database, Statement } from 'better-sqlite3';
import { noteThenTryAcquire, takeThenRelease, type CallbackToken, type NextPull, type SyncCoordinator, type SyncLease } from '../sync-coordinator.js';
import { leaseTableFor, type SqliteLeaseTable } from './sqlite-lease-table.js';

/** Options for {@link SqliteSyncCoordinator}. */
export interface SqliteSyncCoordinatorOptions {
  /** Clock in epoch ms; lease expiry and callback-token times come from it. */
  now?: () => number;
  /** Who holds each lease; by default the table shared by every coordinator on the same Database handle. */
  leases?: SqliteLeaseTable;
}

/** The prepared statements a lease needs, shared by all leases of one coordinator. */
interface SyncStatements {
  takePending: Statement<[string, number]>;
  selectToken: Statement<[string], { callback_token: string | null; callback_token_at: number | null }>;
  selectCursor: Statement<[string], { cursor: string | null }>;
  commitCursor: Statement<[string, string, number]>;
  selectFence: Statement<[string], { fence: number }>;
  selectPending: Statement<[string], { pending: number }>;
}

/**
 * Sync coordination for a single node. The lease lives in process memory; the fence, pending mark, cursor and
 * callback token live in the SQLite file, so the fence keeps increasing and the cursor resumes after a restart.
 * Every lease write is conditional on the stored fence, so a stale holder cannot act even on a shared file.
 */
export class SqliteSyncCoordinator implements SyncCoordinator {
  private readonly now: () => number;
  private readonly leases: SqliteLeaseTable;
  private readonly statements: SyncStatements;
  private readonly markPending: Statement<[string]>;
  private readonly noteToken: Statement<[{ kf: string; token: string; at: number }]>;
  private readonly nextFence: Statement<[string], { fence: number }>;

  /** `db` must come from openSqliteDatabase; the coordinator never closes it. */
  constructor(db: Database, options: SqliteSyncCoordinatorOptions = {}) {
    this.now = options.now ?? Date.now;
    this.leases = options.leases ?? leaseTableFor(db);
    this.markPending = db.prepare(
      'INSERT INTO sync_state (open_kfid, pending) VALUES (?, 1) ON CONFLICT (open_kfid) DO UPDATE SET pending = 1',
    );
    // Freshest wins: an older token never replaces a newer one, whatever order the writes land in.
    this.noteToken = db.prepare(
      'INSERT INTO sync_state (open_kfid, pending, callback_token, callback_token_at) VALUES (@kf, 1, @token, @at) ' +
        'ON CONFLICT (open_kfid) DO UPDATE SET pending = 1, ' +
        'callback_token = CASE WHEN callback_token_at IS NULL OR callback_token_at <= @at THEN @token ELSE callback_token END, ' +
        'callback_token_at = CASE WHEN callback_token_at IS NULL OR callback_token_at <= @at THEN @at ELSE callback_token_at END',
    );
    this.nextFence = db.prepare(
      'INSERT INTO sync_state (open_kfid, fence) VALUES (?, 1) ' +
        'ON CONFLICT (open_kfid) DO UPDATE SET fence = fence + 1 RETURNING fence',
    );
    this.statements = {
      takePending: db.prepare('UPDATE sync_state SET pending = 0 WHERE open_kfid = ? AND fence = ? AND pending = 1'),
      selectToken: db.prepare('SELECT callback_token, callback_token_at FROM sync_state WHERE open_kfid = ?'),
      selectCursor: db.prepare('SELECT cursor FROM sync_state WHERE open_kfid = ?'),
      commitCursor: db.prepare('UPDATE sync_state SET cursor = ? WHERE open_kfid = ? AND fence = ?'),
      selectFence: db.prepare('SELECT fence FROM sync_state WHERE open_kfid = ?'),
      selectPending: db.prepare('SELECT pending FROM sync_state WHERE open_kfid = ?'),
    };
  }

  /** Sets the pending mark and keeps the freshest callback token; resolves to whether a lease is held. */
  async notePending(openKfid: string, callbackToken: string | null): Promise<boolean> {
    if (callbackToken === null) this.markPending.run(openKfid);
    else this.noteToken.run({ kf: openKfid, token: callbackToken, at: this.now() });
    const holder = this.leases.get(openKfid);
    return holder !== undefined && holder.expiresAt > this.now();
  }

  /** Whether a pull has been asked for and not yet taken. */
  async hasPending(openKfid: string): Promise<boolean> {
    return (this.statements.selectPending.get(openKfid)?.pending ?? 0) === 1;
  }

  /** Hands out the lease with the next stored fence, or null while an unexpired holder has it. */
  async tryAcquire(openKfid: string, leaseMs: number): Promise<SyncLease | null> {
    const now = this.now();
    const holder = this.leases.get(openKfid);
    if (holder !== undefined && holder.expiresAt > now) return null;
    const row = this.nextFence.get(openKfid);
    if (row === undefined) throw new Error('sync_state upsert returned no fence');
    this.leases.set(openKfid, row.fence, now + leaseMs);
    return new SqliteSyncLease(openKfid, row.fence, this.statements, this.leases, this.now);
  }

  /** notePending, then tryAcquire: in one process the two steps cost no round trip. */
  async noteAndTryAcquire(openKfid: string, callbackToken: string | null, leaseMs: number): Promise<SyncLease | null> {
    return await noteThenTryAcquire(this, openKfid, callbackToken, leaseMs);
  }

  /** The Database belongs to the caller; nothing else to release. */
  async close(): Promise<void> {}
}

/** One holder's lease; writes go through only while the stored fence is still its own and it has not released. */
class SqliteSyncLease implements SyncLease {
  private released = false;

  constructor(
    private readonly openKfid: string,
    readonly fence: number,
    private readonly statements: SyncStatements,
    private readonly leases: SqliteLeaseTable,
    private readonly now: () => number,
  ) {}

  async takePending(): Promise<boolean> {
    // A stale holder leaves the mark alone so the newer holder still sees it.
    if (this.released) return false;
    return this.statements.takePending.run(this.openKfid, this.fence).changes === 1;
  }

  async callbackToken(): Promise<CallbackToken | null> {
    const row = this.statements.selectToken.get(this.openKfid);
    if (row?.callback_token == null || row.callback_token_at == null) return null;
    return { value: row.callback_token, receivedAt: row.callback_token_at };
  }

  async cursor(): Promise<string | null> {
    return this.statements.selectCursor.get(this.openKfid)?.cursor ?? null;
  }

  async commitCursor(cursor: string, renewMs?: number): Promise<boolean> {
    if (this.released) return false;
    if (this.statements.commitCursor.run(cursor, this.openKfid, this.fence).changes !== 1) return false;
    return renewMs === undefined || (await this.renew(renewMs));
  }

  async renew(leaseMs: number): Promise<boolean> {
    if (!this.isNewest()) return false;
    this.leases.set(this.openKfid, this.fence, this.now() + leaseMs);
    return true;
  }

  async release(): Promise<boolean> {
    if (this.isNewest()) {
      this.released = true;
      this.leases.clear(this.openKfid, this.fence);
    }
    return (this.statements.selectPending.get(this.openKfid)?.pending ?? 0) === 1;
  }

  async takePendingOrRelease(): Promise<NextPull> {
    return await takeThenRelease(this);
  }

  async takeGathered(): Promise<boolean> {
    if (!this.isNewest()) return false;
    await this.takePending();
    return true;
  }

  private isNewest(): boolean {
    return (
      !this.released &&
      this.leases.get(this.openKfid)?.fence === this.fence &&
      this.statements.selectFence.get(this.openKfid)?.fence === this.fence
    );
  }
}

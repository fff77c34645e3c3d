import type { Database } from 'better-sqlite3';

/** Who holds each kf account's sync lease, in process memory: one process owns the SQLite file. */
export class SqliteLeaseTable {
  private readonly holders = new Map<string, { fence: number; expiresAt: number }>();

  /** The holder of a kf account's lease, expired or not, or undefined. */
  get(openKfid: string): { fence: number; expiresAt: number } | undefined {
    return this.holders.get(openKfid);
  }

  /** Records fence as the holder until expiresAt. */
  set(openKfid: string, fence: number, expiresAt: number): void {
    this.holders.set(openKfid, { fence, expiresAt });
  }

  /** Forgets the holder, only when it still is `fence`. */
  clear(openKfid: string, fence: number): void {
    if (this.holders.get(openKfid)?.fence === fence) this.holders.delete(openKfid);
  }
}

const tablesByDatabase = new WeakMap<Database, SqliteLeaseTable>();

/**
 * The lease table shared by every coordinator on one Database handle, so two coordinators built on the
 * same file in one process still exclude each other.
 */
export function leaseTableFor(db: Database): SqliteLeaseTable {
  let table = tablesByDatabase.get(db);
  if (table === undefined) {
    table = new SqliteLeaseTable();
    tablesByDatabase.set(db, table);
  }
  return table;
}

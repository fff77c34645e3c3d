import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { Database } from 'better-sqlite3';
import { migrateSqliteDatabase } from './sqlite-migrations.js';

/** Options for {@link openSqliteDatabase}. */
export interface OpenSqliteDatabaseOptions {
  /** How long a statement waits for a lock held by another connection (a CLI export, say) before failing. */
  busyTimeoutMs?: number;
}

/**
 * Opens (creating if needed) the single-node state file, ready for the SQLite stores: WAL journal, a busy
 * timeout, and the schema migrated to the current version. The caller owns the handle and closes it.
 */
export function openSqliteDatabase(path: string, options: OpenSqliteDatabaseOptions = {}): Database {
  const inMemory = path === ':memory:' || path === '';
  if (!inMemory) mkdirSync(dirname(path), { recursive: true });
  const db = new BetterSqlite3(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    // With WAL, NORMAL still survives a process crash; only an OS crash can lose the last commits.
    db.pragma('synchronous = NORMAL');
    migrateSqliteDatabase(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { Database } from 'better-sqlite3';
import type { Logger } from 'pino';
import { migrateSqliteDatabase } from './sqlite-migrations.js';
import { classifyStateFile } from './deployed-schema.js';
import { upgradeDeployedDatabase } from './deployed-upgrade.js';

/** Options for {@link openSqliteDatabase}. */
export interface OpenSqliteDatabaseOptions {
  /** How long a statement waits for a lock held by another connection (a CLI export, say) before failing. */
  busyTimeoutMs?: number;
  /** The kf account (open_kfid) a deployed relay's sync cursor is carried to when its file is upgraded. */
  openKfid?: string;
  /** Where an upgrade of a deployed relay's file is reported (backup path, counts). */
  logger?: Logger;
  /** Clock in epoch ms, for which deployed pending tokens are still live. */
  now?: () => number;
}

/**
 * Opens (creating if needed) the single-node state file, ready for the SQLite stores: WAL journal, a busy
 * timeout, and the schema migrated to the current version. The deployed relay's file is first backed up and
 * upgraded in place; a file of unknown shape is refused untouched. The caller owns the handle and closes it.
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
    // Before the numbered migrations: the deployed relay's tables share names with ours and must be carried over.
    if (classifyStateFile(db, path) === 'deployed') {
      upgradeDeployedDatabase(db, { path, openKfid: options.openKfid, now: options.now ?? Date.now, logger: options.logger });
    } else {
      migrateSqliteDatabase(db);
    }
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

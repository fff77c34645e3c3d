import BetterSqlite3 from 'better-sqlite3';

/**
 * The schema the deployed single-node relay creates on start, byte for byte (statement text, indentation and all),
 * as its public source runs it: the state file an operator brings along.
 */
export const DEPLOYED_DDL = `
    CREATE TABLE IF NOT EXISTS bindings (
      external_userid TEXT PRIMARY KEY,
      gateway_id TEXT NOT NULL,
      created_at TEXT NOT NULL DEFAULT (datetime('now'))
    );

    CREATE TABLE IF NOT EXISTS pending_bindings (
      token TEXT PRIMARY KEY,
      gateway_id TEXT NOT NULL,
      created_at TEXT NOT NULL DEFAULT (datetime('now')),
      expires_at TEXT NOT NULL
    );

    CREATE TABLE IF NOT EXISTS kv (
      key TEXT PRIMARY KEY,
      value TEXT NOT NULL
    );
  `;

/** What to put in a deployed relay's state file. */
export interface DeployedContent {
  bindings?: Array<[externalUserId: string, gatewayId: string]>;
  /** Tokens as the deployed relay issued them; `minutesLeft` ≤ 0 makes an expired one. Default 10 (just issued). */
  pending?: Array<{ token: string; gatewayId: string; minutesLeft?: number }>;
  /** kv.sync_cursor; absent: the relay never stored one. */
  cursor?: string;
  /** Leave out the kv table, as releases before the cursor was stored did. */
  withoutKv?: boolean;
}

/** Writes a state file the way the deployed relay does: WAL, its DDL, rows written with its own SQL expressions. */
export function createDeployedDatabase(path: string, content: DeployedContent = {}): void {
  const db = new BetterSqlite3(path);
  try {
    db.pragma('journal_mode = WAL');
    db.exec(content.withoutKv ? DEPLOYED_DDL.slice(0, DEPLOYED_DDL.indexOf('    CREATE TABLE IF NOT EXISTS kv')) : DEPLOYED_DDL);
    const bind = db.prepare(
      "INSERT OR REPLACE INTO bindings (external_userid, gateway_id, created_at) VALUES (?, ?, datetime('now'))",
    );
    for (const [user, gateway] of content.bindings ?? []) bind.run(user, gateway);
    const pend = db.prepare(
      "INSERT OR REPLACE INTO pending_bindings (token, gateway_id, created_at, expires_at) VALUES (?, ?, datetime('now'), datetime('now', ?))",
    );
    for (const p of content.pending ?? []) pend.run(p.token, p.gatewayId, `${p.minutesLeft ?? 10} minutes`);
    if (content.cursor !== undefined) db.prepare('INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)').run('sync_cursor', content.cursor);
  } finally {
    db.close();
  }
}

/** The tables of a state file and the deployed cursor (kv.sync_cursor) if it still has one, read only. */
export function inspectStateFile(path: string): { tables: string[]; deployedCursor: string | null } {
  const db = new BetterSqlite3(path, { readonly: true });
  try {
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map(
      (r) => r.name,
    );
    const row = tables.includes('kv')
      ? (db.prepare("SELECT value FROM kv WHERE key = 'sync_cursor'").get() as { value: string } | undefined)
      : undefined;
    return { tables, deployedCursor: row?.value ?? null };
  } finally {
    db.close();
  }
}

/** Drops one table, to make a half-deployed file. */
export function dropTable(path: string, table: string): void {
  const db = new BetterSqlite3(path);
  try {
    db.exec(`DROP TABLE ${table}`);
  } finally {
    db.close();
  }
}

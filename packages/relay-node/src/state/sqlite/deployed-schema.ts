import type { Database } from 'better-sqlite3';
import { RelayError } from '../../errors/relay-error.js';

/**
 * The single-node relay this project replaces kept its state in SQLite under `user_version` 0: `bindings` and
 * `pending_bindings` (expiry as UTC text 'YYYY-MM-DD HH:MM:SS'), and since a later release `kv` holding the sync
 * cursor under `sync_cursor`. These are the columns each table had, in order.
 */
const DEPLOYED_TABLES: Readonly<Record<string, readonly string[]>> = {
  bindings: ['external_userid', 'gateway_id', 'created_at'],
  pending_bindings: ['token', 'gateway_id', 'created_at', 'expires_at'],
  kv: ['key', 'value'],
};
/** kv appeared in a later deployed release; a file from before it has no cursor. */
const OPTIONAL_DEPLOYED_TABLES = new Set(['kv']);
/** The kv key the deployed relay stored its kf/sync_msg cursor under. */
const DEPLOYED_CURSOR_KEY = 'sync_cursor';

/** What a state file holds before the numbered migrations run. */
export type StateFileKind = 'new' | 'current' | 'deployed';

/** The deployed relay's state, read without changing the file. */
export interface DeployedState {
  bindings: Array<{ externalUserId: string; gatewayId: string }>;
  /** Tokens still live at `now`, with their expiry in epoch ms. */
  pending: Array<{ token: string; gatewayId: string; expiresAt: number }>;
  /** Pending tokens left behind because they had expired (or carried an unreadable expiry). */
  expiredPending: number;
  /** The kf/sync_msg cursor, or null when the deployed relay never stored one. */
  cursor: string | null;
}

/**
 * Tells a new file, one of ours (user_version ≥ 1) and the deployed relay's apart. Anything else at
 * user_version 0 (a half-deployed or foreign schema) is refused rather than guessed at.
 */
export function classifyStateFile(db: Database, path: string): StateFileKind {
  if (Number(db.pragma('user_version', { simple: true })) > 0) return 'current';
  const tables = (
    db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'").all() as {
      name: string;
    }[]
  ).map((r) => r.name);
  if (tables.length === 0) return 'new';
  const problems: string[] = [];
  for (const name of tables) {
    const expected = DEPLOYED_TABLES[name];
    if (!expected) {
      problems.push(`unexpected table ${name}`);
      continue;
    }
    const columns = (db.prepare(`SELECT name FROM pragma_table_info(?)`).all(name) as { name: string }[]).map((c) => c.name);
    if (columns.join(',') !== expected.join(',')) problems.push(`table ${name} has columns (${columns.join(', ')})`);
  }
  for (const name of Object.keys(DEPLOYED_TABLES)) {
    if (!tables.includes(name) && !OPTIONAL_DEPLOYED_TABLES.has(name)) problems.push(`table ${name} is missing`);
  }
  if (problems.length > 0) {
    throw new RelayError(
      'STATE_SCHEMA_UNKNOWN',
      `${path} is neither this relay's database nor the deployed relay's (${problems.join('; ')}); ` +
        'it was left untouched: point DATABASE_PATH at the right file, or restore it from its backup',
      { path, tables, problems },
    );
  }
  return 'deployed';
}

/** Reads the deployed relay's bindings, live pending tokens and cursor from a file {@link classifyStateFile} called 'deployed'. */
export function readDeployedState(db: Database, now: number): DeployedState {
  const bindings = (
    db.prepare('SELECT external_userid AS externalUserId, gateway_id AS gatewayId FROM bindings ORDER BY rowid').all() as DeployedState['bindings']
  );
  // The deployed relay wrote expiry with datetime('now', ...), i.e. UTC; strftime('%s') reads it as such.
  const tokens = db
    .prepare("SELECT token, gateway_id AS gatewayId, CAST(strftime('%s', expires_at) AS INTEGER) * 1000 AS expiresAt FROM pending_bindings")
    .all() as Array<{ token: string; gatewayId: string; expiresAt: number | null }>;
  const pending = tokens.flatMap((t) => (t.expiresAt !== null && t.expiresAt > now ? [{ ...t, expiresAt: t.expiresAt }] : []));
  const hasKv = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'kv'").get() !== undefined;
  const row = hasKv ? (db.prepare('SELECT value FROM kv WHERE key = ?').get(DEPLOYED_CURSOR_KEY) as { value: string } | undefined) : undefined;
  // The deployed relay read a missing cursor as '' (start of WeCom's history), so '' means none.
  const cursor = row?.value ? row.value : null;
  return { bindings, pending, expiredPending: tokens.length - pending.length, cursor };
}

/** Names of the deployed relay's tables, so an upgrade can remove them once their rows are carried over. */
export function deployedTableNames(db: Database): string[] {
  return (
    db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('bindings', 'pending_bindings', 'kv')").all() as {
      name: string;
    }[]
  ).map((r) => r.name);
}

import type { Database } from 'better-sqlite3';
import { RelayError } from '../../errors/relay-error.js';

/**
 * The schema, one entry per version: entry i takes the database from version i to i + 1.
 * Released entries never change; a schema change is a new entry appended at the end.
 */
export const SQLITE_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE bindings (
    external_user_id TEXT PRIMARY KEY,
    gateway_id TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX bindings_by_gateway ON bindings (gateway_id);

  CREATE TABLE pending_bindings (
    token TEXT PRIMARY KEY,
    gateway_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX pending_bindings_by_expiry ON pending_bindings (expires_at);

  CREATE TABLE dedup_keys (
    key TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX dedup_keys_by_expiry ON dedup_keys (expires_at);

  CREATE TABLE sync_state (
    open_kfid TEXT PRIMARY KEY,
    fence INTEGER NOT NULL DEFAULT 0,
    cursor TEXT,
    pending INTEGER NOT NULL DEFAULT 0,
    callback_token TEXT,
    callback_token_at INTEGER
  ) WITHOUT ROWID;

  CREATE TABLE delivery_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    gateway_id TEXT NOT NULL,
    event TEXT NOT NULL,
    enqueued_at INTEGER NOT NULL
  );
  CREATE INDEX delivery_queue_by_gateway ON delivery_queue (gateway_id, id);

  CREATE TABLE delivery_acks (
    gateway_id TEXT PRIMARY KEY,
    acked_id INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  // 1 → 2: idempotent queue appends. Apart from delivery_queue so a key outlives the acks and trims of its item.
  `
  CREATE TABLE delivery_dedup (
    gateway_id TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (gateway_id, dedup_key)
  ) WITHOUT ROWID;
  CREATE INDEX delivery_dedup_by_expiry ON delivery_dedup (expires_at);
  `,
  // 2 → 3: the outbound ledger (WeCom's send window per user, and who sent each WeCom msgid).
  `
  CREATE TABLE send_windows (
    external_user_id TEXT PRIMARY KEY,
    last_customer_at INTEGER,
    sent_since INTEGER NOT NULL DEFAULT 0,
    touched_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX send_windows_by_touch ON send_windows (touched_at);
  CREATE TABLE sent_messages (
    msgid TEXT PRIMARY KEY,
    gateway_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    external_user_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX sent_messages_by_expiry ON sent_messages (expires_at);
  `,
  // 3 → 4: replies already sent (or being sent), so a resent reply is answered with its first ack; and the msgids of
  // the customer's last second, so a second message in the same second restarts the window.
  `
  CREATE TABLE reply_records (
    gateway_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    owner TEXT,
    record TEXT,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (gateway_id, request_id, fingerprint)
  ) WITHOUT ROWID;
  CREATE INDEX reply_records_by_expiry ON reply_records (expires_at);
  ALTER TABLE send_windows ADD COLUMN last_ids TEXT NOT NULL DEFAULT '';
  `,
  // 4 → 5: binding tokens used once within per-gateway limits, typed-guess counts, bindings ordered by the WeCom
  // event that made them, and routing decisions kept beside the dedup keys.
  `
  ALTER TABLE pending_bindings ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX pending_bindings_by_gateway ON pending_bindings (gateway_id, created_at);
  CREATE TABLE binding_tokens_used (
    event_id TEXT PRIMARY KEY,
    gateway_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX binding_tokens_used_by_expiry ON binding_tokens_used (expires_at);
  CREATE TABLE binding_windows (
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    count INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (kind, subject)
  ) WITHOUT ROWID;
  CREATE INDEX binding_windows_by_expiry ON binding_windows (expires_at);
  CREATE TABLE binding_orders (
    external_user_id TEXT PRIMARY KEY,
    at INTEGER NOT NULL,
    event_id TEXT NOT NULL
  ) WITHOUT ROWID;
  ALTER TABLE dedup_keys ADD COLUMN value TEXT;
  `,
  // 5 → 6: several kf accounts: a binding remembers the account it came through (NULL: the first configured one).
  `
  ALTER TABLE bindings ADD COLUMN open_kfid TEXT;
  `,
  // 6 → 7: WeCom keeps a send window per (kf account, user): windows gain their account ('' is the first configured
  // one, which every window written before was for).
  `
  CREATE TABLE send_windows_by_account (
    external_user_id TEXT NOT NULL,
    open_kfid TEXT NOT NULL DEFAULT '',
    last_customer_at INTEGER,
    sent_since INTEGER NOT NULL DEFAULT 0,
    touched_at INTEGER NOT NULL,
    last_ids TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (external_user_id, open_kfid)
  ) WITHOUT ROWID;
  INSERT INTO send_windows_by_account (external_user_id, open_kfid, last_customer_at, sent_since, touched_at, last_ids)
    SELECT external_user_id, '', last_customer_at, sent_since, touched_at, last_ids FROM send_windows;
  DROP TABLE send_windows;
  ALTER TABLE send_windows_by_account RENAME TO send_windows;
  CREATE INDEX send_windows_by_touch ON send_windows (touched_at);
  `,
];

/** The schema version this code writes and expects. */
export const SQLITE_SCHEMA_VERSION = SQLITE_MIGRATIONS.length;

/**
 * Brings the database up to {@link SQLITE_SCHEMA_VERSION}, recording the version in PRAGMA user_version.
 * Each step runs in its own transaction, so a crash leaves the file at a whole version. Safe to call repeatedly.
 */
export function migrateSqliteDatabase(db: Database): number {
  const current = readSchemaVersion(db);
  if (current > SQLITE_SCHEMA_VERSION) {
    // Refuse rather than guess: an older relay writing a newer schema could corrupt what the newer one relies on.
    throw new RelayError('CONFIG_INVALID', 'the state database was written by a newer relay version', {
      schemaVersion: current,
      supportedVersion: SQLITE_SCHEMA_VERSION,
    });
  }
  for (let version = current; version < SQLITE_SCHEMA_VERSION; version += 1) {
    const step = db.transaction(() => {
      db.exec(SQLITE_MIGRATIONS[version] ?? '');
      db.pragma(`user_version = ${version + 1}`);
    });
    step.immediate();
  }
  return SQLITE_SCHEMA_VERSION;
}

/** The schema version recorded in the file (0 for a new one). */
export function readSchemaVersion(db: Database): number {
  return Number(db.pragma('user_version', { simple: true }));
}

import { existsSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import { RelayError } from '../../errors/relay-error.js';
import { classifyStateFile, readDeployedState, type DeployedState } from './deployed-schema.js';
import { SQLITE_SCHEMA_VERSION, readSchemaVersion } from './sqlite-migrations.js';

/** What a single-node state file holds that a cluster needs, and which relay wrote it. */
export interface ExportedState extends DeployedState {
  /** 'deployed': the deployed relay's file; 'current': this relay's. */
  kind: 'deployed' | 'current';
}

/**
 * Reads bindings, live pending tokens and the sync cursor of `openKfid` from a state file, read-only, whether
 * this relay or the deployed one wrote it. The file is not changed (no upgrade, no migration).
 */
export function exportSqliteState(path: string, openKfid: string, now: number): ExportedState {
  if (!existsSync(path)) throw new RelayError('CONFIG_INVALID', `${path} does not exist`, { path });
  const db = new BetterSqlite3(path, { readonly: true, fileMustExist: true });
  try {
    const kind = classifyStateFile(db, path);
    if (kind === 'new') throw new RelayError('STATE_SCHEMA_UNKNOWN', `${path} holds no relay state (no tables)`, { path });
    if (kind === 'deployed') return { kind, ...readDeployedState(db, now) };
    const version = readSchemaVersion(db);
    if (version > SQLITE_SCHEMA_VERSION) {
      throw new RelayError('CONFIG_INVALID', `${path} was written by a newer relay version`, { schemaVersion: version });
    }
    const bindings = db
      .prepare('SELECT external_user_id AS externalUserId, gateway_id AS gatewayId FROM bindings')
      .all() as ExportedState['bindings'];
    const tokens = db.prepare('SELECT token, gateway_id AS gatewayId, expires_at AS expiresAt FROM pending_bindings').all() as ExportedState['pending'];
    const pending = tokens.filter((t) => t.expiresAt > now);
    const row = db.prepare('SELECT cursor FROM sync_state WHERE open_kfid = ?').get(openKfid) as { cursor: string | null } | undefined;
    return { kind, bindings, pending, expiredPending: tokens.length - pending.length, cursor: row?.cursor ?? null };
  } finally {
    db.close();
  }
}

import { existsSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import { RelayError } from '../../errors/relay-error.js';
import { classifyStateFile, readDeployedState, type DeployedState } from './deployed-schema.js';
import { SQLITE_SCHEMA_VERSION, readSchemaVersion } from './sqlite-migrations.js';

/** A binding as the file holds it: with the kf account and the binding event that made it, when recorded. */
export interface ExportedBinding {
  externalUserId: string;
  gatewayId: string;
  /** The account the binding came through; absent: the first configured one. */
  openKfid?: string;
  /** The binding event that set it (send_time in seconds, msgid), so a re-pulled older event cannot undo it. */
  order?: { at: number; eventId: string };
}

/** What a single-node state file holds that a cluster needs, and which relay wrote it. */
export interface ExportedState extends Omit<DeployedState, 'cursor' | 'bindings'> {
  /** 'deployed': the deployed relay's file; 'current': this relay's. */
  kind: 'deployed' | 'current';
  bindings: ExportedBinding[];
  /** The sync cursor of each asked-for account the file holds one for, in the order asked. */
  cursors: Array<{ openKfid: string; cursor: string }>;
}

/**
 * Reads bindings (with their account and order), live pending tokens and the sync cursor of each of `openKfids`
 * from a state file, read-only, whether this relay or the deployed one wrote it (the deployed relay served one
 * account: its cursor is the first one's). The file is not changed (no upgrade, no migration).
 */
export function exportSqliteState(path: string, openKfids: readonly string[], now: number): ExportedState {
  if (!existsSync(path)) throw new RelayError('CONFIG_INVALID', `${path} does not exist`, { path });
  const db = new BetterSqlite3(path, { readonly: true, fileMustExist: true });
  try {
    const kind = classifyStateFile(db, path);
    if (kind === 'new') throw new RelayError('STATE_SCHEMA_UNKNOWN', `${path} holds no relay state (no tables)`, { path });
    if (kind === 'deployed') {
      const { cursor, ...rest } = readDeployedState(db, now);
      const first = openKfids[0];
      return { kind, ...rest, cursors: cursor !== null && first !== undefined ? [{ openKfid: first, cursor }] : [] };
    }
    const version = readSchemaVersion(db);
    if (version > SQLITE_SCHEMA_VERSION) {
      throw new RelayError('CONFIG_INVALID', `${path} was written by a newer relay version`, { schemaVersion: version });
    }
    // Schema 5 added binding_orders, 6 bindings.open_kfid.
    const account = version >= 6 ? 'b.open_kfid' : 'NULL';
    const orders = version >= 5 ? 'LEFT JOIN binding_orders o ON o.external_user_id = b.external_user_id' : '';
    const rows = db
      .prepare(
        `SELECT b.external_user_id AS externalUserId, b.gateway_id AS gatewayId, ${account} AS openKfid, ` +
          `${orders ? 'o.at AS at, o.event_id AS eventId' : 'NULL AS at, NULL AS eventId'} FROM bindings b ${orders}`,
      )
      .all() as Array<{ externalUserId: string; gatewayId: string; openKfid: string | null; at: number | null; eventId: string | null }>;
    const bindings = rows.map(
      (r): ExportedBinding => ({
        externalUserId: r.externalUserId,
        gatewayId: r.gatewayId,
        ...(r.openKfid ? { openKfid: r.openKfid } : {}),
        ...(r.at !== null && r.eventId !== null ? { order: { at: r.at, eventId: r.eventId } } : {}),
      }),
    );
    const tokens = db.prepare('SELECT token, gateway_id AS gatewayId, expires_at AS expiresAt FROM pending_bindings').all() as ExportedState['pending'];
    const pending = tokens.filter((t) => t.expiresAt > now);
    const selectCursor = db.prepare('SELECT cursor FROM sync_state WHERE open_kfid = ?');
    const cursors = openKfids.flatMap((openKfid) => {
      const row = selectCursor.get(openKfid) as { cursor: string | null } | undefined;
      return row?.cursor ? [{ openKfid, cursor: row.cursor }] : [];
    });
    return { kind, bindings, pending, expiredPending: tokens.length - pending.length, cursors };
  } finally {
    db.close();
  }
}

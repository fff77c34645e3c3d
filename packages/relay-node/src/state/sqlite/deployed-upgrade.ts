import { existsSync } from 'node:fs';
import type { Database } from 'better-sqlite3';
import type { Logger } from 'pino';
import { RelayError } from '../../errors/relay-error.js';
import { deployedTableNames, readDeployedState } from './deployed-schema.js';
import { migrateSqliteDatabase } from './sqlite-migrations.js';

/** Options for {@link upgradeDeployedDatabase}. */
export interface DeployedUpgradeOptions {
  /** The file's path; the backup is written next to it. */
  path: string;
  /** The kf account the deployed relay's sync cursor belongs to; required when the file holds a cursor. */
  openKfid: string | undefined;
  /** Clock in epoch ms: which pending tokens are still live, and the backup's name. */
  now: () => number;
  logger: Logger | undefined;
}

/** What an upgrade kept and where the untouched copy is. */
export interface DeployedUpgradeReport {
  /** The copy of the file as it was, or null for an in-memory database. */
  backupPath: string | null;
  bindings: number;
  pendingTokens: number;
  expiredTokensDropped: number;
  cursorCarried: boolean;
}

/**
 * Upgrades the deployed relay's database in place: a backup copy first (VACUUM INTO, consistent under WAL), then
 * in one transaction the deployed tables are replaced by this relay's schema carrying every binding, every live
 * pending token and the sync cursor (for `openKfid`), so the next pull continues exactly where the deployed relay
 * stopped. A crash leaves either the deployed file or the upgraded one; the upgraded one is never upgraded again
 * because its user_version is no longer 0.
 */
export function upgradeDeployedDatabase(db: Database, o: DeployedUpgradeOptions): DeployedUpgradeReport {
  const before = readDeployedState(db, o.now());
  if (before.cursor !== null && !o.openKfid) {
    throw new RelayError(
      'CONFIG_INVALID',
      `${o.path} is the deployed relay's database and holds its sync cursor, but no kf account (open_kfid) was given ` +
        'to carry it to: start the node with WECOM_OPEN_KFID set, or move the file into Redis with ' +
        '`pnpm relay migrate sqlite:<file> redis://...`',
      { path: o.path },
    );
  }
  const backupPath = backup(db, o.path, o.now());
  o.logger?.info(
    { path: o.path, backupPath, bindings: before.bindings.length, pendingTokens: before.pending.length, cursor: before.cursor !== null },
    "deployed relay's database found; backup written before upgrading it in place",
  );
  const upgrade = db.transaction((): DeployedUpgradeReport => {
    // Read again inside the transaction: what is carried is exactly what the dropped tables held.
    const state = readDeployedState(db, o.now());
    for (const table of deployedTableNames(db)) db.exec(`DROP TABLE ${table}`);
    migrateSqliteDatabase(db);
    const bind = db.prepare('INSERT INTO bindings (external_user_id, gateway_id) VALUES (?, ?)');
    for (const b of state.bindings) bind.run(b.externalUserId, b.gatewayId);
    const pend = db.prepare('INSERT INTO pending_bindings (token, gateway_id, expires_at) VALUES (?, ?, ?)');
    for (const p of state.pending) pend.run(p.token, p.gatewayId, p.expiresAt);
    if (state.cursor !== null && o.openKfid) {
      db.prepare('INSERT INTO sync_state (open_kfid, cursor) VALUES (?, ?)').run(o.openKfid, state.cursor);
    }
    return {
      backupPath,
      bindings: state.bindings.length,
      pendingTokens: state.pending.length,
      expiredTokensDropped: state.expiredPending,
      cursorCarried: state.cursor !== null,
    };
  });
  const report = upgrade.immediate();
  o.logger?.info({ path: o.path, ...report, openKfid: o.openKfid }, "deployed relay's database upgraded in place");
  return report;
}

/** Writes `<path>.pre-upgrade-<UTC time>.bak`, a consistent copy including what is still in the WAL. */
function backup(db: Database, path: string, now: number): string | null {
  if (path === '' || path === ':memory:') return null;
  const stamp = new Date(now).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  let target = `${path}.pre-upgrade-${stamp}.bak`;
  // An upgrade that failed after its backup and is retried within the same second must not overwrite that backup.
  for (let n = 2; existsSync(target); n += 1) target = `${path}.pre-upgrade-${stamp}-${n}.bak`;
  db.prepare('VACUUM INTO ?').run(target);
  return target;
}

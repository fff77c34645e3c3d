import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import BetterSqlite3 from 'better-sqlite3';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import {
  SQLITE_SCHEMA_VERSION,
  SqliteBindingStore,
  SqlitePendingBindingStore,
  SqliteSyncCoordinator,
  openSqliteDatabase,
  readSchemaVersion,
} from '../../src/state/sqlite/index.js';
import { createDeployedDatabase } from '../support/deployed-database.js';

const KFID = 'wkDEPLOYED0001';
const dir = mkdtempSync(join(tmpdir(), 'wecom-relay-deployed-'));
let n = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function newPath(): string {
  n += 1;
  return join(dir, `relay-${n}.db`);
}

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: pino({ level: 'info' }, stream) };
}

function backupsOf(path: string): string[] {
  const base = path.split('/').pop() ?? '';
  return readdirSync(dir).filter((f) => f.startsWith(`${base}.pre-upgrade-`) && f.endsWith('.bak'));
}

function tables(path: string): string[] {
  const db = new BetterSqlite3(path, { readonly: true });
  try {
    return (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
  } finally {
    db.close();
  }
}

async function bindingsOf(db: ReturnType<typeof openSqliteDatabase>): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  for await (const entry of new SqliteBindingStore(db).entries()) out.push(entry);
  return out.sort();
}

const DEPLOYED = {
  bindings: [
    ['wmAlice', 'gw-a'],
    ['wmBob', 'gw-a'],
    ['wmCarol', 'gw-b'],
  ] as Array<[string, string]>,
  pending: [
    { token: '0a1b2c3d', gatewayId: 'gw-a' },
    { token: '4e5f6a7b', gatewayId: 'gw-b', minutesLeft: 3 },
    { token: 'deadbeef', gatewayId: 'gw-b', minutesLeft: -5 },
  ],
  cursor: 'DEPLOYED-CURSOR-42',
};

describe("upgrading the deployed relay's database in place", () => {
  it('backs the file up, keeps every binding and live token, drops the expired one and carries the cursor', async () => {
    const path = newPath();
    createDeployedDatabase(path, DEPLOYED);
    const { lines, logger } = capture();

    const db = openSqliteDatabase(path, { openKfid: KFID, logger });
    expect(readSchemaVersion(db)).toBe(SQLITE_SCHEMA_VERSION);
    expect(await bindingsOf(db)).toEqual(DEPLOYED.bindings);
    const pending = new SqlitePendingBindingStore(db);
    expect(await pending.lookup('0a1b2c3d')).toBe('gw-a');
    expect(await pending.lookup('4e5f6a7b')).toBe('gw-b');
    expect(await pending.lookup('deadbeef')).toBeNull();
    // The 3-minute token expires when the deployed relay said it would (epoch ms, give or take its 1 s precision).
    const expiry = (db.prepare('SELECT expires_at FROM pending_bindings WHERE token = ?').get('4e5f6a7b') as { expires_at: number }).expires_at;
    expect(Math.abs(expiry - (Date.now() + 3 * 60_000))).toBeLessThan(5_000);

    const lease = await new SqliteSyncCoordinator(db).tryAcquire(KFID, 10_000);
    expect(await lease?.cursor()).toBe(DEPLOYED.cursor);
    expect(await lease?.commitCursor('NEXT-CURSOR')).toBe(true);
    await lease?.release();
    db.close();

    const [backup] = backupsOf(path);
    expect(backup).toBeDefined();
    const copy = new BetterSqlite3(join(dir, backup!), { readonly: true });
    expect(copy.prepare('SELECT COUNT(*) AS c FROM bindings').get()).toEqual({ c: 3 });
    expect(copy.prepare("SELECT value FROM kv WHERE key = 'sync_cursor'").get()).toEqual({ value: DEPLOYED.cursor });
    copy.close();
    expect(tables(path)).not.toContain('kv');

    const upgraded = lines.find((l) => l['msg'] === "deployed relay's database upgraded in place");
    expect(upgraded).toMatchObject({ backupPath: join(dir, backup!), bindings: 3, pendingTokens: 2, expiredTokensDropped: 1, cursorCarried: true });
    expect(lines.some((l) => l['backupPath'] === join(dir, backup!) && l['msg'] !== upgraded?.['msg'])).toBe(true);
  });

  it('opens the upgraded file again (twice) without another backup or import', async () => {
    const path = newPath();
    createDeployedDatabase(path, DEPLOYED);
    openSqliteDatabase(path, { openKfid: KFID }).close();
    for (let restart = 0; restart < 2; restart += 1) {
      const { lines, logger } = capture();
      const db = openSqliteDatabase(path, { openKfid: KFID, logger });
      // A binding removed after the upgrade must stay removed: nothing is imported again.
      await new SqliteBindingStore(db).unbindAll('gw-b');
      expect(await bindingsOf(db)).toEqual(DEPLOYED.bindings.filter(([, g]) => g === 'gw-a'));
      const lease = await new SqliteSyncCoordinator(db).tryAcquire(KFID, 10_000);
      expect(await lease?.cursor()).toBe(DEPLOYED.cursor);
      await lease?.release();
      db.close();
      expect(lines).toEqual([]);
    }
    expect(backupsOf(path)).toHaveLength(1);
  });

  it("upgrades a release's file from before the cursor was stored (no kv table)", async () => {
    const path = newPath();
    createDeployedDatabase(path, { bindings: [['wmOld', 'gw-old']], withoutKv: true });
    const db = openSqliteDatabase(path, { openKfid: KFID });
    expect(await bindingsOf(db)).toEqual([['wmOld', 'gw-old']]);
    const lease = await new SqliteSyncCoordinator(db).tryAcquire(KFID, 10_000);
    expect(await lease?.cursor()).toBeNull();
    db.close();
  });

  it('refuses a cursor it cannot place (no open_kfid) and leaves the file untouched', () => {
    const path = newPath();
    createDeployedDatabase(path, DEPLOYED);
    expect(() => openSqliteDatabase(path)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringMatching(/WECOM_OPEN_KFID/) }));
    expect(tables(path)).toEqual(['bindings', 'kv', 'pending_bindings']);
    expect(backupsOf(path)).toEqual([]);
  });

  it('refuses a half-deployed or unknown schema with STATE_SCHEMA_UNKNOWN, untouched', () => {
    const cases: string[] = [
      'CREATE TABLE bindings (external_userid TEXT PRIMARY KEY, gateway_id TEXT NOT NULL)', // a column missing
      'CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)', // bindings and pending_bindings missing
      'CREATE TABLE users (id INTEGER PRIMARY KEY)',
    ];
    for (const ddl of cases) {
      const path = newPath();
      const raw = new BetterSqlite3(path);
      raw.exec(ddl);
      raw.close();
      const before = tables(path);
      expect(() => openSqliteDatabase(path, { openKfid: KFID }), ddl).toThrow(expect.objectContaining({ code: 'STATE_SCHEMA_UNKNOWN' }));
      expect(tables(path)).toEqual(before);
      expect(backupsOf(path)).toEqual([]);
    }
  });

  it('rolls the whole upgrade back when a row cannot be carried, leaving the deployed file as it was', () => {
    const path = newPath();
    createDeployedDatabase(path, DEPLOYED);
    const raw = new BetterSqlite3(path);
    // SQLite lets a rowid table's TEXT PRIMARY KEY hold NULL; this relay's bindings table does not.
    raw.prepare("INSERT INTO bindings (external_userid, gateway_id) VALUES (NULL, 'gw-x')").run();
    raw.close();
    expect(() => openSqliteDatabase(path, { openKfid: KFID })).toThrow();
    expect(tables(path)).toEqual(['bindings', 'kv', 'pending_bindings']);
    const check = new BetterSqlite3(path, { readonly: true });
    expect(check.prepare('SELECT COUNT(*) AS c FROM bindings').get()).toEqual({ c: 4 });
    expect(check.pragma('user_version', { simple: true })).toBe(0);
    check.close();
  });
});

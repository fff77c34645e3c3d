import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { Database } from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  SQLITE_MIGRATIONS,
  SQLITE_SCHEMA_VERSION,
  SqliteBindingStore,
  SqliteDedupStore,
  SqliteDeliveryQueue,
  SqlitePendingBindingStore,
  SqliteSyncCoordinator,
  migrateSqliteDatabase,
  openSqliteDatabase,
  readSchemaVersion,
  SqliteOutboundLedger,
  SqliteReplyRecordStore,
} from '../../src/state/sqlite/index.js';
import {
  bindingStoreContract,
  dedupStoreContract,
  deliveryQueueContract,
  LEDGER_FIRST_KF,
  outboundLedgerContract,
  replyRecordStoreContract,
  pendingBindingStoreContract,
  syncCoordinatorContract,
  bindingUnbindContract,
} from './contracts.js';

/** Issue limits that never get in the way. */
const OPEN_LIMITS = { reuseWithinMs: 0, maxLive: 100, ratePerWindow: 1_000, rateWindowMs: 60_000 };

const dir = mkdtempSync(join(tmpdir(), 'wecom-relay-sqlite-'));
const opened: Database[] = [];
let fileCount = 0;

/** A fresh database file, closed after the whole file's tests. */
function freshDatabase(): Database {
  fileCount += 1;
  const db = openSqliteDatabase(join(dir, `state-${fileCount}.db`));
  opened.push(db);
  return db;
}

afterAll(() => {
  for (const db of opened) if (db.open) db.close();
  rmSync(dir, { recursive: true, force: true });
});

bindingStoreContract('sqlite', async () => new SqliteBindingStore(freshDatabase(), { pageSize: 250 }));
pendingBindingStoreContract('sqlite', async () => new SqlitePendingBindingStore(freshDatabase()));
dedupStoreContract('sqlite', async () => new SqliteDedupStore(freshDatabase()));
syncCoordinatorContract('sqlite', async () => new SqliteSyncCoordinator(freshDatabase()));
deliveryQueueContract('sqlite', async () => new SqliteDeliveryQueue(freshDatabase()));
bindingUnbindContract('sqlite', async () => new SqliteBindingStore(freshDatabase()));

describe('SQLite state file', () => {
  const toClose: Database[] = [];
  afterEach(() => {
    for (const db of toClose.splice(0)) if (db.open) db.close();
  });
  /** Opens the file and registers it for closing. */
  function open(path: string): Database {
    const db = openSqliteDatabase(path);
    toClose.push(db);
    return db;
  }

  it('creates missing parent directories and uses WAL', () => {
    const db = open(join(dir, 'nested', 'deeper', 'relay.db'));
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(Number(db.pragma('busy_timeout', { simple: true }))).toBeGreaterThan(0);
    expect(readSchemaVersion(db)).toBe(SQLITE_SCHEMA_VERSION);
  });

  it('bindings, pending tokens, the sync cursor and the queue survive closing and reopening the file', async () => {
    const path = join(dir, 'restart.db');
    const first = open(path);
    const bindings = new SqliteBindingStore(first);
    await bindings.bind('wm-alice', 'gw-1');
    await bindings.bind('wm-bob', 'gw-2');
    await new SqlitePendingBindingStore(first).issue('a1b2c3d4', 'gw-1', 10 * 60_000, OPEN_LIMITS);
    const dedup = new SqliteDedupStore(first);
    expect(await dedup.claim('msg-1', 60_000)).toBe(true);
    const sync = new SqliteSyncCoordinator(first);
    await sync.notePending('wk1', 'ENC-token');
    const lease = (await sync.tryAcquire('wk1', 60_000))!;
    expect(await lease.commitCursor('cursor-42')).toBe(true);
    const queue = new SqliteDeliveryQueue(first);
    const q1 = await queue.append('gw-1', { type: 'binding_resolved', externalUserId: 'wm-alice', gatewayId: 'gw-1' });
    const q2 = await queue.append('gw-1', { type: 'binding_resolved', externalUserId: 'wm-carol', gatewayId: 'gw-1' });
    await queue.ack('gw-1', q1);
    // The process ends without releasing its lease.
    first.close();

    const second = open(path);
    const bindings2 = new SqliteBindingStore(second);
    expect(await bindings2.gatewayFor('wm-alice')).toBe('gw-1');
    expect(await bindings2.usersOf('gw-2')).toEqual(['wm-bob']);
    expect(await new SqlitePendingBindingStore(second).consume('a1b2c3d4', 'event-1', 60_000)).toBe('gw-1');
    expect(await new SqliteDedupStore(second).claim('msg-1', 60_000)).toBe(false);
    const sync2 = new SqliteSyncCoordinator(second);
    expect(await sync2.hasPending('wk1')).toBe(true);
    const lease2 = (await sync2.tryAcquire('wk1', 60_000))!;
    expect(lease2.fence).toBeGreaterThan(lease.fence);
    expect(await lease2.cursor()).toBe('cursor-42');
    expect((await lease2.callbackToken())?.value).toBe('ENC-token');
    const queue2 = new SqliteDeliveryQueue(second);
    expect(await queue2.lastAcked('gw-1')).toBe(q1);
    const rest = await queue2.readAfter('gw-1', await queue2.lastAcked('gw-1'), 10);
    expect(rest.map((item) => item.id)).toEqual([q2]);
    // Ids are never reused after a restart, so a new item still orders after the old ones.
    const q3 = await queue2.append('gw-1', { type: 'binding_resolved', externalUserId: 'wm-dave', gatewayId: 'gw-1' });
    expect((await queue2.readAfter('gw-1', q2, 10)).map((item) => item.id)).toEqual([q3]);
  });

  it('queue ids keep increasing after every row was deleted and the file reopened', async () => {
    const path = join(dir, 'ids.db');
    const first = open(path);
    const queue = new SqliteDeliveryQueue(first);
    const event = { type: 'binding_resolved' as const, externalUserId: 'wm-1', gatewayId: 'gw-1' };
    await queue.append('gw-1', event);
    const last = await queue.append('gw-1', event);
    expect(await queue.trim('gw-1', { maxAgeMs: 3600_000, maxItems: 0 })).toBe(2);
    first.close();
    const queue2 = new SqliteDeliveryQueue(open(path));
    const next = await queue2.append('gw-1', event);
    expect((await queue2.readAfter('gw-1', last, 10)).map((item) => item.id)).toEqual([next]);
  });

  it('ids order numerically, not as text', async () => {
    const queue = new SqliteDeliveryQueue(open(join(dir, 'numeric.db')));
    const event = { type: 'binding_resolved' as const, externalUserId: 'wm-1', gatewayId: 'gw-1' };
    const ids: string[] = [];
    for (let i = 0; i < 12; i += 1) ids.push(await queue.append('gw-1', event));
    // "9" sorts after "10" as text; the store must page by number.
    const afterNine = await queue.readAfter('gw-1', ids[8]!, 10);
    expect(afterNine.map((item) => item.id)).toEqual(ids.slice(9));
    expect(ids.slice(8, 10)).toEqual(['9', '10']);
  });

  it('migrations are idempotent: reopening and migrating again keep the version and the data', async () => {
    const path = join(dir, 'migrate.db');
    const first = open(path);
    await new SqliteBindingStore(first).bind('wm-alice', 'gw-1');
    expect(migrateSqliteDatabase(first)).toBe(SQLITE_SCHEMA_VERSION);
    expect(migrateSqliteDatabase(first)).toBe(SQLITE_SCHEMA_VERSION);
    first.close();
    const second = open(path);
    expect(readSchemaVersion(second)).toBe(SQLITE_SCHEMA_VERSION);
    expect(await new SqliteBindingStore(second).gatewayFor('wm-alice')).toBe('gw-1');
  });

  it("a single-account relay's send windows are the first account's after the per-account upgrade", async () => {
    const path = join(dir, 'windows-6.db');
    const raw = new BetterSqlite3(path);
    toClose.push(raw);
    // The file as a relay of schema 6 (one window per user) left it.
    for (const [version, step] of SQLITE_MIGRATIONS.slice(0, 6).entries()) {
      raw.exec(step);
      raw.pragma(`user_version = ${version + 1}`);
    }
    const now = Date.now();
    raw
      .prepare('INSERT INTO send_windows (external_user_id, last_customer_at, sent_since, last_ids, touched_at) VALUES (?, ?, ?, ?, ?)')
      .run('wm-old', now - 1_000, 5, 'msg-1', now);
    raw.close();
    const db = open(path);
    expect(readSchemaVersion(db)).toBe(SQLITE_SCHEMA_VERSION);
    const ledger = new SqliteOutboundLedger(db, { firstOpenKfid: 'wk-first' });
    expect(await ledger.window('wk-first', 'wm-old')).toEqual({ lastCustomerAt: now - 1_000, sentSince: 5 });
    expect(await ledger.window('wk-second', 'wm-old')).toEqual({ lastCustomerAt: null, sentSince: 0 });
    // The msgids of the customer's last second came along too: the same message again restarts nothing.
    await ledger.customerSpoke('wk-first', 'wm-old', now - 1_000, 'msg-1');
    expect((await ledger.window('wk-first', 'wm-old')).sentSince).toBe(5);
  });

  it('migrates a bare file and refuses one written by a newer schema', () => {
    const path = join(dir, 'bare.db');
    const raw = new BetterSqlite3(path);
    toClose.push(raw);
    expect(readSchemaVersion(raw)).toBe(0);
    migrateSqliteDatabase(raw);
    expect(readSchemaVersion(raw)).toBe(SQLITE_SCHEMA_VERSION);
    raw.pragma(`user_version = ${SQLITE_SCHEMA_VERSION + 1}`);
    raw.close();
    expect(() => openSqliteDatabase(path)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });

  it('closing a store never closes the database it was given', async () => {
    const db = open(join(dir, 'shared-handle.db'));
    const stores = [
      new SqliteBindingStore(db),
      new SqlitePendingBindingStore(db),
      new SqliteDedupStore(db),
      new SqliteSyncCoordinator(db),
      new SqliteDeliveryQueue(db),
    ];
    for (const store of stores) {
      await store.close();
      await store.close();
    }
    expect(db.open).toBe(true);
    expect(await new SqliteBindingStore(db).bind('wm-alice', 'gw-1')).toBeNull();
  });

  it('two coordinators on one database still hand out one lease at a time', async () => {
    const db = open(join(dir, 'two-coordinators.db'));
    const one = new SqliteSyncCoordinator(db);
    const two = new SqliteSyncCoordinator(db);
    const lease = await one.tryAcquire('wk1', 60_000);
    expect(lease).not.toBeNull();
    expect(await two.tryAcquire('wk1', 60_000)).toBeNull();
    await two.notePending('wk1', null);
    await lease!.release();
    const next = await two.tryAcquire('wk1', 60_000);
    expect(next!.fence).toBeGreaterThan(lease!.fence);
    expect(await next!.takePending()).toBe(true);
  });

  it('prunes expired dedup rows and pending tokens over time', async () => {
    const db = open(join(dir, 'prune.db'));
    let t = 1_700_000_000_000;
    const now = (): number => t;
    const dedup = new SqliteDedupStore(db, { now, pruneIntervalMs: 1000 });
    const pending = new SqlitePendingBindingStore(db, { now, pruneIntervalMs: 1000 });
    for (let i = 0; i < 50; i += 1) await dedup.claim(`m${i}`, 500);
    for (let i = 0; i < 50; i += 1) await pending.issue(`t${i}`, 'gw-1', 500, OPEN_LIMITS);
    const count = (table: string): number =>
      (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    expect(count('dedup_keys')).toBe(50);
    expect(count('pending_bindings')).toBe(50);
    t += 2000;
    await dedup.claim('fresh', 500);
    await pending.issue('fresh', 'gw-1', 500, OPEN_LIMITS);
    expect(count('dedup_keys')).toBe(1);
    expect(count('pending_bindings')).toBe(1);
  });
});
outboundLedgerContract('sqlite', async () => new SqliteOutboundLedger(freshDatabase(), { firstOpenKfid: LEDGER_FIRST_KF }));
replyRecordStoreContract('sqlite', async () => {
  const db = freshDatabase();
  return { a: new SqliteReplyRecordStore(db), b: new SqliteReplyRecordStore(db) };
});

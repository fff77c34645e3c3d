import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { copyBindings, openBindingStore } from '../../src/cli/binding-transfer.js';
import { MemoryBindingStore } from '../../src/state/memory/index.js';
import { openSqliteDatabase, SqliteBindingStore, SqliteSyncCoordinator } from '../../src/state/sqlite/index.js';
import { exportSqliteState } from '../../src/state/sqlite/sqlite-state-export.js';
import { createDeployedDatabase } from '../support/deployed-database.js';

const KF_A = 'wk-first';
const KF_B = 'wk-second';
const KF_C = 'wk-third';
const dir = mkdtempSync(join(tmpdir(), 'relay-export-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A file of this relay serving A and B: each account with a cursor, a binding through each. */
async function twoAccountFile(name: string): Promise<string> {
  const path = join(dir, name);
  const db = openSqliteDatabase(path, { openKfid: KF_A });
  const sync = new SqliteSyncCoordinator(db);
  for (const [kf, cursor] of [[KF_A, 'CURSOR-A'], [KF_B, 'CURSOR-B']] as const) {
    const lease = await sync.tryAcquire(kf, 5_000);
    expect(await lease!.commitCursor(cursor)).toBe(true);
    await lease!.release();
  }
  const bindings = new SqliteBindingStore(db);
  await bindings.bindInOrder('wm-a', 'gw-1', { at: 100, eventId: 'ev-a', openKfid: KF_A });
  await bindings.bindInOrder('wm-b', 'gw-2', { at: 200, eventId: 'ev-b', openKfid: KF_B });
  await bindings.bind('wm-old', 'gw-1');
  db.close();
  return path;
}

describe('exporting a state file for migration', () => {
  it('holds the cursor of every asked-for account the file has, and each binding with its account and order', async () => {
    const path = await twoAccountFile('two-accounts.db');
    const state = exportSqliteState(path, [KF_A, KF_B, KF_C], Date.now());
    expect(state.cursors).toEqual([
      { openKfid: KF_A, cursor: 'CURSOR-A' },
      { openKfid: KF_B, cursor: 'CURSOR-B' },
    ]);
    expect(exportSqliteState(path, [KF_B], Date.now()).cursors).toEqual([{ openKfid: KF_B, cursor: 'CURSOR-B' }]);
    expect([...state.bindings].sort((x, y) => x.externalUserId.localeCompare(y.externalUserId))).toEqual([
      { externalUserId: 'wm-a', gatewayId: 'gw-1', openKfid: KF_A, order: { at: 100, eventId: 'ev-a' } },
      { externalUserId: 'wm-b', gatewayId: 'gw-2', openKfid: KF_B, order: { at: 200, eventId: 'ev-b' } },
      { externalUserId: 'wm-old', gatewayId: 'gw-1' },
    ]);
  });

  it("gives the deployed relay's one cursor to the first account", () => {
    const path = join(dir, 'deployed.db');
    createDeployedDatabase(path, { bindings: [['wmAlice', 'gw-a']], pending: [], cursor: 'DEPLOYED-CURSOR' });
    const state = exportSqliteState(path, [KF_A, KF_B], Date.now());
    expect(state.cursors).toEqual([{ openKfid: KF_A, cursor: 'DEPLOYED-CURSOR' }]);
    expect(state.bindings).toEqual([{ externalUserId: 'wmAlice', gatewayId: 'gw-a' }]);
  });
});

describe('pnpm relay bindings copy', () => {
  it('copies each binding with the kf account it came through; one without an account stays without', async () => {
    const from = new MemoryBindingStore();
    await from.bindInOrder('wm-b', 'gw-2', { at: 200, eventId: 'ev-b', openKfid: KF_B });
    await from.bind('wm-old', 'gw-1');
    const to = await openBindingStore(`sqlite:${join(dir, 'copy-target.db')}`);
    try {
      expect(await copyBindings(from, to.store)).toBe(2);
      expect(await to.store.gatewayFor('wm-b')).toBe('gw-2');
      expect(await to.store.accountOf('wm-b')).toBe(KF_B);
      expect(await to.store.accountOf('wm-old')).toBeNull();
      // The copy's order is older than any real binding event: a later scan through another account still applies.
      await to.store.bindInOrder('wm-b', 'gw-3', { at: 1, eventId: 'ev-later', openKfid: KF_A });
      expect(await to.store.accountOf('wm-b')).toBe(KF_A);
      expect(await copyBindings(from, to.store)).toBe(2);
    } finally {
      await to.close();
    }
  });
});

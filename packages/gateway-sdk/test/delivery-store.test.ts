import { mkdtempSync, readFileSync, rmSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KeyWindow, MemoryDeliveryStore, dedupKeys, type DeliveryStore } from '../src/index.js';
import { FileDeliveryStore } from '../src/node-file-store.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gw-store-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** What every store must do. */
function contract(name: string, make: () => DeliveryStore) {
  describe(`${name} (DeliveryStore contract)`, () => {
    it('remembers processed keys and the resume point, per gateway', async () => {
      const store = make();
      expect(await store.lastAcked('gw-a')).toBeUndefined();
      expect(await store.seen('gw-a', ['d:1-0', 'm:wx1'])).toBe(false);
      await store.record('gw-a', ['d:1-0', 'm:wx1'], '1-0');
      expect(await store.seen('gw-a', ['m:wx1'])).toBe(true);
      expect(await store.seen('gw-a', ['d:9-0', 'd:1-0'])).toBe(true);
      expect(await store.seen('gw-b', ['m:wx1'])).toBe(false);
      expect(await store.lastAcked('gw-a')).toBe('1-0');
      await store.record('gw-a', ['d:2-0'], '2-0');
      expect(await store.lastAcked('gw-a')).toBe('2-0');
    });
  });
}

contract('MemoryDeliveryStore', () => new MemoryDeliveryStore());
contract('FileDeliveryStore', () => new FileDeliveryStore({ directory: tempDir(), fsync: false }));

describe('dedup window', () => {
  it('keeps only the newest keys (bounded memory)', () => {
    const w = new KeyWindow(3);
    for (const k of ['a', 'b', 'c', 'd']) w.add(k);
    expect(w.size).toBe(3);
    expect(w.has('a')).toBe(false);
    expect(w.list()).toEqual(['b', 'c', 'd']);
  });

  it('the memory store forgets beyond its window', async () => {
    const store = new MemoryDeliveryStore(2);
    await store.record('g', ['m:1'], '1');
    await store.record('g', ['m:2'], '2');
    await store.record('g', ['m:3'], '3');
    expect(await store.seen('g', ['m:1'])).toBe(false);
    expect(await store.seen('g', ['m:3'])).toBe(true);
  });

  it('keys an event by its WeCom msgid where it has one, else by its delivery id', () => {
    expect(dedupKeys({ type: 'inbound', id: 'wx1', deliveryId: '5-0' })).toEqual(['m:wx1']);
    expect(dedupKeys({ type: 'binding_resolved', deliveryId: '6-0' })).toEqual(['d:6-0']);
    // send_failed's id is the gateway's request id, not a msgid.
    expect(dedupKeys({ type: 'send_failed', id: 'r-1', deliveryId: '7-0' })).toEqual(['d:7-0']);
    expect(dedupKeys({ type: 'binding_resolved' })).toEqual([]);
  });
});

describe('FileDeliveryStore', () => {
  it('survives a restart of the process (a new instance reads the file)', async () => {
    const directory = tempDir();
    const first = new FileDeliveryStore({ directory });
    await first.record('gw/1', ['d:1-0', 'm:wx1'], '1-0');
    await first.close();
    const second = new FileDeliveryStore({ directory });
    expect(await second.seen('gw/1', ['m:wx1'])).toBe(true);
    expect(await second.lastAcked('gw/1')).toBe('1-0');
    await second.close();
  });

  it('ignores a torn last line (the process died mid-write) and keeps appending cleanly', async () => {
    const directory = tempDir();
    const first = new FileDeliveryStore({ directory, fsync: false });
    await first.record('g', ['m:wx1'], '1-0');
    await first.close();
    appendFileSync(join(directory, 'g.jsonl'), '{"k":["m:wx2"],"a":"2-');
    const second = new FileDeliveryStore({ directory, fsync: false });
    expect(await second.seen('g', ['m:wx2'])).toBe(false);
    expect(await second.lastAcked('g')).toBe('1-0');
    await second.record('g', ['m:wx3'], '3-0');
    await second.close();
    const third = new FileDeliveryStore({ directory, fsync: false });
    expect(await third.seen('g', ['m:wx3'])).toBe(true);
    expect(await third.lastAcked('g')).toBe('3-0');
    await third.close();
  });

  it('compacts its file to the window, so it does not grow without bound', async () => {
    const directory = tempDir();
    const store = new FileDeliveryStore({ directory, window: 5, fsync: false });
    for (let i = 1; i <= 40; i++) await store.record('g', [`m:${i}`], `${i}-0`);
    const lines = readFileSync(join(directory, 'g.jsonl'), 'utf8').trim().split('\n');
    expect(lines.length).toBeLessThanOrEqual(11);
    await store.close();
    const reread = new FileDeliveryStore({ directory, window: 5, fsync: false });
    expect(await reread.seen('g', ['m:40'])).toBe(true);
    expect(await reread.seen('g', ['m:36'])).toBe(true);
    expect(await reread.seen('g', ['m:1'])).toBe(false);
    expect(await reread.lastAcked('g')).toBe('40-0');
    await reread.close();
  });
});

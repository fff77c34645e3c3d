import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { DedupStore } from '../../../src/state/index.js';
import { SHORT_TTL_MS, PAST_SHORT_TTL_MS, LONG_TTL_MS, tracked } from './contract-helpers.js';

/** DedupStore: each key handed on once per ttl. */
export function dedupStoreContract(name: string, make: () => Promise<DedupStore>): void {
  describe(`DedupStore contract: ${name}`, () => {
    const fresh = tracked(make);

    it('claims a key once; later claims are refused; other keys are independent', async () => {
      const store = await fresh();
      expect(await store.claim('msg-1', LONG_TTL_MS)).toBe(true);
      expect(await store.claim('msg-1', LONG_TTL_MS)).toBe(false);
      expect(await store.claim('msg-1', LONG_TTL_MS)).toBe(false);
      expect(await store.claim('msg-2', LONG_TTL_MS)).toBe(true);
    });

    it('concurrent claims of one key: exactly one wins', async () => {
      const store = await fresh();
      const results = await Promise.all(Array.from({ length: 20 }, () => store.claim('msg-race', LONG_TTL_MS)));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('a key can be claimed again after its ttl', async () => {
      const store = await fresh();
      expect(await store.claim('msg-1', SHORT_TTL_MS)).toBe(true);
      expect(await store.claim('msg-1', SHORT_TTL_MS)).toBe(false);
      await sleep(PAST_SHORT_TTL_MS);
      expect(await store.claim('msg-1', LONG_TTL_MS)).toBe(true);
      expect(await store.claim('msg-1', LONG_TTL_MS)).toBe(false);
    });

    it('decide: the first value stands, for every later caller, until its ttl', async () => {
      const store = await fresh();
      expect(await store.recall('r:msg-1')).toBeNull();
      expect(await store.decide('r:msg-1', '>gw-1', LONG_TTL_MS)).toBe('>gw-1');
      expect(await store.decide('r:msg-1', '>gw-2', LONG_TTL_MS)).toBe('>gw-1');
      expect(await store.recall('r:msg-1')).toBe('>gw-1');
      expect(await store.decide('r:msg-2', '-', LONG_TTL_MS)).toBe('-');
      expect(await store.decide('r:short', '#', SHORT_TTL_MS)).toBe('#');
      await sleep(PAST_SHORT_TTL_MS);
      expect(await store.recall('r:short')).toBeNull();
      expect(await store.decide('r:short', '>gw-3', LONG_TTL_MS)).toBe('>gw-3');
    });

    it('decide with a placement: the first value stands, recall with it finds it, keys of one minute stay apart', async () => {
      const store = await fresh();
      const at = { at: 1_700_000_000 };
      expect(await store.recall('r:msg-1', at)).toBeNull();
      expect(await store.decide('r:msg-1', '>gw-1', LONG_TTL_MS, at)).toBe('>gw-1');
      expect(await store.decide('r:msg-1', '>gw-2', LONG_TTL_MS, at)).toBe('>gw-1');
      expect(await store.recall('r:msg-1', at)).toBe('>gw-1');
      expect(await store.decide('r:msg-2', '-', LONG_TTL_MS, { at: 1_700_000_001 })).toBe('-');
      expect(await store.recall('r:msg-2', { at: 1_700_000_001 })).toBe('-');
      const racing = await Promise.all(Array.from({ length: 20 }, (_, n) => store.decide('r:msg-race', `>gw-${n}`, LONG_TTL_MS, at)));
      expect(new Set(racing).size).toBe(1);
    });

    it('a decision recorded without a placement stands for calls with one', async () => {
      const store = await fresh();
      expect(await store.decide('r:msg-old', '>gw-1', LONG_TTL_MS)).toBe('>gw-1');
      expect(await store.decide('r:msg-old', '>gw-2', LONG_TTL_MS, { at: 1_700_000_000 })).toBe('>gw-1');
      expect(await store.recall('r:msg-old', { at: 1_700_000_000 })).toBe('>gw-1');
    });

    it('decideMany: each key decided once, with or without a placement, as decide would, repeats in the batch included', async () => {
      const store = await fresh();
      const at = { at: 1_700_000_000 };
      expect(await store.decide('r:old', '>gw-old', LONG_TTL_MS)).toBe('>gw-old');
      expect(await store.decide('r:placed', '>gw-placed', LONG_TTL_MS, at)).toBe('>gw-placed');
      const values = await store.decideMany(
        [
          { key: 'r:old', value: '>gw-new', placement: at },
          { key: 'r:placed', value: '>gw-new', placement: at },
          { key: 'r:fresh', value: '>gw-1', placement: at },
          { key: 'r:fresh', value: '>gw-2', placement: at },
          { key: 'r:later', value: '-', placement: { at: 1_700_000_500 } },
          { key: 'r:bare', value: '#' },
        ],
        LONG_TTL_MS,
      );
      expect(values).toEqual(['>gw-old', '>gw-placed', '>gw-1', '>gw-1', '-', '#']);
      expect(await store.decide('r:fresh', '>gw-3', LONG_TTL_MS, at)).toBe('>gw-1');
      expect(await store.recall('r:later', { at: 1_700_000_500 })).toBe('-');
      expect(await store.decideMany([], LONG_TTL_MS)).toEqual([]);
      const racing = await Promise.all(
        Array.from({ length: 10 }, (_, n) => store.decideMany([{ key: 'r:race', value: `>gw-${n}`, placement: at }], LONG_TTL_MS)),
      );
      expect(new Set(racing.map((v) => v[0])).size).toBe(1);
    });

    it('concurrent decides of one key all get the same value', async () => {
      const store = await fresh();
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.decide('r:race', `>gw-${i}`, LONG_TTL_MS)));
      expect(new Set(results).size).toBe(1);
    });
  });
}

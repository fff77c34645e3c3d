import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { ReplyRecordStore } from '../../../src/state/index.js';
import { LONG_TTL_MS, PAST_SHORT_TTL_MS, SHORT_TTL_MS, tracked } from './contract-helpers.js';

/**
 * ReplyRecordStore: one claim per reply, its ack remembered, claims of dead owners freed. `make` may be called twice
 * in one test and must then return two stores on the same data (two nodes of one cluster).
 */
export function replyRecordStoreContract(name: string, make: () => Promise<{ a: ReplyRecordStore; b: ReplyRecordStore }>): void {
  describe(`ReplyRecordStore contract: ${name}`, () => {
    const fresh = tracked(async () => {
      const pair = await make();
      return { ...pair, close: async () => void (await Promise.all([pair.a.close(), pair.b.close()])) };
    });
    const key = { gatewayId: 'gw-1', requestId: 'req-1', fingerprint: 'fp-1' };
    const record = { msgids: ['m-1', 'm-2'], partsTotal: 3, unsent: { code: 'SEND_WINDOW_CLOSED', message: 'closed', offset: 4096, wecomErrcode: 95001 } };

    it('hands a reply to one claimant; others see it in flight, on either store', async () => {
      const { a, b } = await fresh();
      expect(await a.claim(key, 'owner-a', LONG_TTL_MS)).toEqual({ state: 'claimed' });
      expect(await b.claim(key, 'owner-b', LONG_TTL_MS)).toEqual({ state: 'in_flight' });
      expect(await a.claim(key, 'owner-c', LONG_TTL_MS)).toEqual({ state: 'in_flight' });
    });

    it('concurrent claims on two stores: exactly one wins', async () => {
      const { a, b } = await fresh();
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).claim(key, `owner-${i}`, LONG_TTL_MS)),
      );
      expect(results.filter((r) => r.state === 'claimed')).toHaveLength(1);
    });

    it('a completed reply answers every later claim with its record', async () => {
      const { a, b } = await fresh();
      await a.claim(key, 'owner-a', LONG_TTL_MS);
      await a.complete(key, record, LONG_TTL_MS);
      expect(await b.claim(key, 'owner-b', LONG_TTL_MS)).toEqual({ state: 'done', record });
      expect(await a.claim(key, 'owner-a', LONG_TTL_MS)).toEqual({ state: 'done', record });
      expect(await b.claim({ ...key, fingerprint: 'fp-other' }, 'owner-b', LONG_TTL_MS)).toEqual({ state: 'claimed' });
      expect(await b.claim({ ...key, requestId: 'req-2' }, 'owner-b', LONG_TTL_MS)).toEqual({ state: 'claimed' });
      expect(await b.claim({ ...key, gatewayId: 'gw-2' }, 'owner-b', LONG_TTL_MS)).toEqual({ state: 'claimed' });
    });

    it('a released claim can be claimed again; only its owner can release it', async () => {
      const { a, b } = await fresh();
      await a.claim(key, 'owner-a', LONG_TTL_MS);
      await b.release(key, 'owner-b');
      expect(await b.claim(key, 'owner-b', LONG_TTL_MS)).toEqual({ state: 'in_flight' });
      await a.release(key, 'owner-a');
      expect(await b.claim(key, 'owner-b', LONG_TTL_MS)).toEqual({ state: 'claimed' });
    });

    it('release never drops a completed record', async () => {
      const { a } = await fresh();
      await a.claim(key, 'owner-a', LONG_TTL_MS);
      await a.complete(key, record, LONG_TTL_MS);
      await a.release(key, 'owner-a');
      expect(await a.claim(key, 'owner-x', LONG_TTL_MS)).toEqual({ state: 'done', record });
    });

    it('a claim whose owner died frees itself after its ttl; extending keeps it', async () => {
      const { a, b } = await fresh();
      await a.claim(key, 'owner-a', SHORT_TTL_MS);
      await sleep(PAST_SHORT_TTL_MS);
      expect(await b.claim(key, 'owner-b', SHORT_TTL_MS)).toEqual({ state: 'claimed' });
      expect(await a.extend(key, 'owner-a', LONG_TTL_MS)).toBe(false);
      expect(await b.extend(key, 'owner-b', LONG_TTL_MS)).toBe(true);
      await sleep(PAST_SHORT_TTL_MS);
      expect(await a.claim(key, 'owner-a', LONG_TTL_MS)).toEqual({ state: 'in_flight' });
    });

    it('forgets a record after its ttl', async () => {
      const { a } = await fresh();
      await a.claim(key, 'owner-a', LONG_TTL_MS);
      await a.complete(key, { msgids: ['m-1'], partsTotal: 1 }, SHORT_TTL_MS);
      expect(await a.claim(key, 'owner-b', LONG_TTL_MS)).toEqual({ state: 'done', record: { msgids: ['m-1'], partsTotal: 1 } });
      await sleep(PAST_SHORT_TTL_MS);
      expect(await a.claim(key, 'owner-b', LONG_TTL_MS)).toEqual({ state: 'claimed' });
    });

    it('keeps ids of any shape apart (long, with separators)', async () => {
      const { a } = await fresh();
      const odd = { gatewayId: 'gw-1', requestId: `x\0y:${'z'.repeat(256)}`, fingerprint: 'fp' };
      const split = { gatewayId: 'gw-1', requestId: 'x', fingerprint: `y:${'z'.repeat(256)}\0fp` };
      expect(await a.claim(odd, 'o', LONG_TTL_MS)).toEqual({ state: 'claimed' });
      expect(await a.claim(split, 'o', LONG_TTL_MS)).toEqual({ state: 'claimed' });
    });
  });
}

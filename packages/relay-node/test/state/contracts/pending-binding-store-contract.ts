import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { PendingBindingStore, TokenIssueLimits } from '../../../src/state/index.js';
import { SHORT_TTL_MS, PAST_SHORT_TTL_MS, LONG_TTL_MS, tracked } from './contract-helpers.js';

/** Limits that never get in the way, for tests about something else. */
const OPEN: TokenIssueLimits = { reuseWithinMs: 0, maxLive: 100, ratePerWindow: 10_000, rateWindowMs: LONG_TTL_MS };

/** PendingBindingStore: QR tokens issued within per-gateway limits, each used by one event, never overwritten. */
export function pendingBindingStoreContract(name: string, make: () => Promise<PendingBindingStore>): void {
  describe(`PendingBindingStore contract: ${name}`, () => {
    const fresh = tracked(make);

    it('a token binds one event: consumed once, the same event gets the same answer, any other event gets null', async () => {
      const store = await fresh();
      expect(await store.issue('a1b2c3d4', 'gw-1', LONG_TTL_MS, OPEN)).toEqual({ outcome: 'created', token: 'a1b2c3d4' });
      expect(await store.consume('a1b2c3d4', 'msg-scan-1', LONG_TTL_MS)).toBe('gw-1');
      expect(await store.consume('a1b2c3d4', 'msg-scan-2', LONG_TTL_MS)).toBeNull();
      expect(await store.consume('a1b2c3d4', 'msg-scan-1', LONG_TTL_MS)).toBe('gw-1');
      expect(await store.consumedBy('msg-scan-1')).toBe('gw-1');
      expect(await store.consumedBy('msg-scan-2')).toBeNull();
      expect(await store.consume('ffffffff', 'msg-scan-3', LONG_TTL_MS)).toBeNull();
    });

    it('keeps tokens of different gateways apart', async () => {
      const store = await fresh();
      await store.issue('00000001', 'gw-1', LONG_TTL_MS, OPEN);
      await store.issue('00000002', 'gw-2', LONG_TTL_MS, OPEN);
      expect(await store.consume('00000002', 'e-2', LONG_TTL_MS)).toBe('gw-2');
      expect(await store.consume('00000001', 'e-1', LONG_TTL_MS)).toBe('gw-1');
    });

    it('never overwrites a live token: the same value for another gateway is a collision and the first stays', async () => {
      const store = await fresh();
      await store.issue('c0111de5', 'gw-victim', LONG_TTL_MS, OPEN);
      expect(await store.issue('c0111de5', 'gw-other', LONG_TTL_MS, OPEN)).toEqual({ outcome: 'collision' });
      expect(await store.consume('c0111de5', 'e-1', LONG_TTL_MS)).toBe('gw-victim');
    });

    it('concurrent issues of one value: exactly one is created', async () => {
      const store = await fresh();
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => store.issue('feedf00d', `gw-${i}`, LONG_TTL_MS, OPEN)),
      );
      expect(results.filter((r) => r.outcome === 'created')).toHaveLength(1);
      expect(results.filter((r) => r.outcome === 'collision')).toHaveLength(9);
    });

    it('concurrent consumes by different events: exactly one gets the gateway', async () => {
      const store = await fresh();
      await store.issue('0ddba11a', 'gw-1', LONG_TTL_MS, OPEN);
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.consume('0ddba11a', `e-${i}`, LONG_TTL_MS)));
      expect(results.filter((r) => r === 'gw-1')).toHaveLength(1);
    });

    it('forgets a token once its ttl has passed, and only that token; an expired value may be issued again', async () => {
      const store = await fresh();
      await store.issue('deadbeef', 'gw-1', SHORT_TTL_MS, OPEN);
      await store.issue('cafef00d', 'gw-1', LONG_TTL_MS, OPEN);
      await sleep(PAST_SHORT_TTL_MS);
      expect(await store.consume('deadbeef', 'e-1', LONG_TTL_MS)).toBeNull();
      expect(await store.issue('deadbeef', 'gw-2', LONG_TTL_MS, OPEN)).toEqual({ outcome: 'created', token: 'deadbeef' });
      expect(await store.consume('deadbeef', 'e-2', LONG_TTL_MS)).toBe('gw-2');
      expect(await store.consume('cafef00d', 'e-3', LONG_TTL_MS)).toBe('gw-1');
    });

    it('asked again within reuseWithinMs, hands out the newest unused token of the same length', async () => {
      const store = await fresh();
      const limits = { ...OPEN, reuseWithinMs: LONG_TTL_MS };
      expect(await store.issue('11111111', 'gw-1', LONG_TTL_MS, limits)).toEqual({ outcome: 'created', token: '11111111' });
      expect(await store.issue('22222222', 'gw-1', LONG_TTL_MS, limits)).toEqual({ outcome: 'reused', token: '11111111' });
      // Another gateway, or a long token, is not served someone else's short one.
      expect(await store.issue('33333333', 'gw-2', LONG_TTL_MS, limits)).toEqual({ outcome: 'created', token: '33333333' });
      const long = '4'.repeat(32);
      expect(await store.issue(long, 'gw-1', LONG_TTL_MS, limits)).toEqual({ outcome: 'created', token: long });
      // A used token is never handed out again.
      await store.consume('33333333', 'e-1', LONG_TTL_MS);
      expect(await store.issue('55555555', 'gw-2', LONG_TTL_MS, limits)).toEqual({ outcome: 'created', token: '55555555' });
    });

    it('stops reusing once reuseWithinMs has passed', async () => {
      const store = await fresh();
      const limits = { ...OPEN, reuseWithinMs: SHORT_TTL_MS };
      await store.issue('11111111', 'gw-1', LONG_TTL_MS, limits);
      await sleep(PAST_SHORT_TTL_MS);
      expect(await store.issue('22222222', 'gw-1', LONG_TTL_MS, limits)).toEqual({ outcome: 'created', token: '22222222' });
    });

    it('refuses a token beyond maxLive per gateway; a used one frees a place', async () => {
      const store = await fresh();
      const limits = { ...OPEN, maxLive: 3 };
      for (const token of ['a0000001', 'a0000002', 'a0000003']) await store.issue(token, 'gw-1', LONG_TTL_MS, limits);
      expect(await store.issue('a0000004', 'gw-1', LONG_TTL_MS, limits)).toEqual({ outcome: 'too_many' });
      expect(await store.issue('b0000001', 'gw-2', LONG_TTL_MS, limits)).toMatchObject({ outcome: 'created' });
      expect(await store.consume('a0000004', 'e-0', LONG_TTL_MS)).toBeNull();
      await store.consume('a0000001', 'e-1', LONG_TTL_MS);
      expect(await store.issue('a0000005', 'gw-1', LONG_TTL_MS, limits)).toMatchObject({ outcome: 'created' });
      expect(await store.issue('a0000006', 'gw-1', LONG_TTL_MS, limits)).toEqual({ outcome: 'too_many' });
    });

    it('an expired token frees its place under maxLive', async () => {
      const store = await fresh();
      const limits = { ...OPEN, maxLive: 1 };
      await store.issue('a0000001', 'gw-1', SHORT_TTL_MS, limits);
      await sleep(PAST_SHORT_TTL_MS);
      expect(await store.issue('a0000002', 'gw-1', LONG_TTL_MS, limits)).toMatchObject({ outcome: 'created' });
    });

    it('refuses beyond ratePerWindow per gateway, reused tokens counted', async () => {
      const store = await fresh();
      const limits = { ...OPEN, reuseWithinMs: LONG_TTL_MS, ratePerWindow: 3 };
      expect(await store.issue('c0000001', 'gw-1', LONG_TTL_MS, limits)).toMatchObject({ outcome: 'created' });
      expect(await store.issue('c0000002', 'gw-1', LONG_TTL_MS, limits)).toMatchObject({ outcome: 'reused' });
      expect(await store.issue('c0000003', 'gw-1', LONG_TTL_MS, limits)).toMatchObject({ outcome: 'reused' });
      expect(await store.issue('c0000004', 'gw-1', LONG_TTL_MS, limits)).toEqual({ outcome: 'rate_limited' });
      expect(await store.issue('d0000001', 'gw-2', LONG_TTL_MS, limits)).toMatchObject({ outcome: 'created' });
    });

    it('gives tokens again once the rate window has passed', async () => {
      const store = await fresh();
      const limits = { ...OPEN, ratePerWindow: 1, rateWindowMs: SHORT_TTL_MS };
      expect(await store.issue('c0000001', 'gw-1', LONG_TTL_MS, limits)).toMatchObject({ outcome: 'created' });
      await sleep(PAST_SHORT_TTL_MS);
      expect(await store.issue('c0000002', 'gw-1', LONG_TTL_MS, limits)).toMatchObject({ outcome: 'created' });
    });

    it('counts a customer\'s guess misses within a window, per customer', async () => {
      const store = await fresh();
      expect(await store.guessMisses('wm-guesser')).toBe(0);
      expect(await store.noteGuessMiss('wm-guesser', LONG_TTL_MS)).toBe(1);
      expect(await store.noteGuessMiss('wm-guesser', LONG_TTL_MS)).toBe(2);
      expect(await store.noteGuessMiss('wm-other', LONG_TTL_MS)).toBe(1);
      expect(await store.guessMisses('wm-guesser')).toBe(2);
    });

    it('forgets guess misses once their window has passed', async () => {
      const store = await fresh();
      await store.noteGuessMiss('wm-guesser', SHORT_TTL_MS);
      await sleep(PAST_SHORT_TTL_MS);
      expect(await store.guessMisses('wm-guesser')).toBe(0);
      expect(await store.noteGuessMiss('wm-guesser', LONG_TTL_MS)).toBe(1);
    });

    it('forgets which event used a token after rememberMs', async () => {
      const store = await fresh();
      await store.issue('e0000001', 'gw-1', LONG_TTL_MS, OPEN);
      expect(await store.consume('e0000001', 'msg-1', SHORT_TTL_MS)).toBe('gw-1');
      await sleep(PAST_SHORT_TTL_MS);
      expect(await store.consumedBy('msg-1')).toBeNull();
    });
  });
}

import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { PendingBindingStore } from '../../../src/state/index.js';
import { SHORT_TTL_MS, PAST_SHORT_TTL_MS, LONG_TTL_MS, tracked } from './contract-helpers.js';

/** PendingBindingStore: QR tokens that resolve until they expire. */
export function pendingBindingStoreContract(name: string, make: () => Promise<PendingBindingStore>): void {
  describe(`PendingBindingStore contract: ${name}`, () => {
    const fresh = tracked(make);

    it('resolves an issued token to its gateway, repeatedly, and an unknown token to null', async () => {
      const store = await fresh();
      await store.put('a1b2c3d4', 'gw-1', LONG_TTL_MS);
      expect(await store.lookup('a1b2c3d4')).toBe('gw-1');
      expect(await store.lookup('a1b2c3d4')).toBe('gw-1');
      expect(await store.lookup('ffffffff')).toBeNull();
    });

    it('keeps tokens of different gateways apart', async () => {
      const store = await fresh();
      await store.put('00000001', 'gw-1', LONG_TTL_MS);
      await store.put('00000002', 'gw-2', LONG_TTL_MS);
      expect(await store.lookup('00000001')).toBe('gw-1');
      expect(await store.lookup('00000002')).toBe('gw-2');
    });

    it('forgets a token once its ttl has passed, and only that token', async () => {
      const store = await fresh();
      await store.put('deadbeef', 'gw-1', SHORT_TTL_MS);
      await store.put('cafef00d', 'gw-1', LONG_TTL_MS);
      await sleep(PAST_SHORT_TTL_MS);
      expect(await store.lookup('deadbeef')).toBeNull();
      expect(await store.lookup('cafef00d')).toBe('gw-1');
    });
  });
}

import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { AccessTokenStore } from '../../../src/state/index.js';
import { SHORT_TTL_MS, PAST_SHORT_TTL_MS, LONG_TTL_MS, tracked } from './contract-helpers.js';

/** AccessTokenStore: one cached token, invalidated only by value, and a single refresher. */
export function accessTokenStoreContract(name: string, make: () => Promise<AccessTokenStore>): void {
  describe(`AccessTokenStore contract: ${name}`, () => {
    const fresh = tracked(make);

    it('reads null before any write and the written token after', async () => {
      const store = await fresh();
      expect(await store.read()).toBeNull();
      const expiresAt = Date.now() + 7_200_000;
      await store.write('token-1', expiresAt);
      expect(await store.read()).toEqual({ token: 'token-1', expiresAt });
    });

    it('invalidate drops the token only when it still matches', async () => {
      const store = await fresh();
      const expiresAt = Date.now() + 7_200_000;
      await store.write('token-old', expiresAt);
      await store.write('token-new', expiresAt + 1);
      // Another node found token-old rejected; the fresher token must survive.
      await store.invalidate('token-old');
      expect(await store.read()).toEqual({ token: 'token-new', expiresAt: expiresAt + 1 });
      await store.invalidate('token-new');
      expect(await store.read()).toBeNull();
      await store.invalidate('token-new');
      expect(await store.read()).toBeNull();
    });

    it('the refresh lock is exclusive until unlocked', async () => {
      const store = await fresh();
      expect(await store.tryLockRefresh(LONG_TTL_MS)).toBe(true);
      expect(await store.tryLockRefresh(LONG_TTL_MS)).toBe(false);
      await store.unlockRefresh();
      expect(await store.tryLockRefresh(LONG_TTL_MS)).toBe(true);
    });

    it('the refresh lock frees itself after its ttl', async () => {
      const store = await fresh();
      expect(await store.tryLockRefresh(SHORT_TTL_MS)).toBe(true);
      expect(await store.tryLockRefresh(SHORT_TTL_MS)).toBe(false);
      await sleep(PAST_SHORT_TTL_MS);
      expect(await store.tryLockRefresh(LONG_TTL_MS)).toBe(true);
    });
  });
}

import { describe, expect, it } from 'vitest';
import { ExpiryRefreshes } from '../../src/state/redis/expiry-refreshes.js';

describe('ExpiryRefreshes', () => {
  it('asks for a refresh of a key never refreshed, and again a 24th of the ttl (an hour at most) after the last one', () => {
    let now = 1_000;
    const hourly = new ExpiryRefreshes({ ttlMs: 4 * 24 * 3600_000, now: () => now });
    expect(hourly.due('a')).toBe(true);
    hourly.noted('a', hourly.started());
    now += 3599_999;
    expect(hourly.due('a')).toBe(false);
    now += 1;
    expect(hourly.due('a')).toBe(true);

    const short = new ExpiryRefreshes({ ttlMs: 24_000, now: () => now });
    short.noted('a', now);
    now += 999;
    expect(short.due('a')).toBe(false);
    now += 1;
    expect(short.due('a')).toBe(true);
  });

  it('remembers at most maxKeys, forgetting the key refreshed longest ago, which is then refreshed again', () => {
    let now = 0;
    const refreshes = new ExpiryRefreshes({ ttlMs: 24 * 3600_000, maxKeys: 2, now: () => now });
    refreshes.noted('a', now++);
    refreshes.noted('b', now++);
    // Refreshed again: now the newest.
    refreshes.noted('a', now++);
    refreshes.noted('c', now++);
    expect(refreshes.size).toBe(2);
    expect(refreshes.due('b')).toBe(true);
    expect(refreshes.due('a')).toBe(false);
    expect(refreshes.due('c')).toBe(false);
  });
});

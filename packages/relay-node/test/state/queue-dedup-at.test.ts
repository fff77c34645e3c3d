/**
 * `dedupAt` as `queueDedupOf` hands it to the stores: a store that packs dedup keys by the hour of a message's
 * send_time (Redis) files a key under the hour it is given, so only a real time of day may reach it.
 */
import { describe, expect, it } from 'vitest';
import { queueDedupOf } from '../../src/state/delivery-queue.js';

const DAY_MS = 86_400_000;

describe('queueDedupOf: the time a deduplicated event happened', () => {
  it('passes a send_time on in whole unix seconds, the epoch itself included', () => {
    expect(queueDedupOf({ dedupKey: 'k', dedupAt: 1_700_000_000 })).toEqual({ key: 'k', ttlMs: 4 * DAY_MS, at: 1_700_000_000 });
    expect(queueDedupOf({ dedupKey: 'k', dedupTtlMs: 5, dedupAt: 1_700_000_000.9 })).toEqual({ key: 'k', ttlMs: 5, at: 1_700_000_000 });
    expect(queueDedupOf({ dedupKey: 'k', dedupAt: 0 })).toEqual({ key: 'k', ttlMs: 4 * DAY_MS, at: 0 });
  });

  it('leaves out a time that is missing, negative, not finite or not a number: the key is then kept unpacked', () => {
    for (const dedupAt of [undefined, -1, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, '1700000000' as unknown as number]) {
      const dedup = queueDedupOf({ dedupKey: 'k', ...(dedupAt === undefined ? {} : { dedupAt }) });
      expect(dedup, String(dedupAt)).toEqual({ key: 'k', ttlMs: 4 * DAY_MS });
      expect('at' in dedup!, String(dedupAt)).toBe(false);
    }
  });

  it('without a key there is nothing to place, whatever the time', () => {
    expect(queueDedupOf({ dedupAt: 1_700_000_000 })).toBeNull();
    expect(queueDedupOf({ dedupKey: '', dedupAt: 1_700_000_000 })).toBeNull();
  });
});

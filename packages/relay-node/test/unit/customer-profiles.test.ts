import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { CustomerProfileCache } from '../../src/delivery/customer-profiles.js';

const logger = pino({ level: 'silent' });

function recorder(fail = () => false) {
  const calls: string[][] = [];
  const fetch = async (ids: readonly string[]) => {
    calls.push([...ids]);
    if (fail()) throw new Error('WeCom down');
    return new Map(ids.filter((id) => !id.startsWith('ghost')).map((id) => [id, { external_userid: id, nickname: `n-${id}` }]));
  };
  return { calls, fetch };
}

describe('CustomerProfileCache', () => {
  it('gathers lookups into calls of at most 100 ids and answers repeats from memory', async () => {
    const r = recorder();
    const cache = new CustomerProfileCache({ fetch: r.fetch, logger, batchDelayMs: 5 });
    const ids = Array.from({ length: 150 }, (_, i) => `u${i}`);
    const got = await Promise.all([...ids, 'u1'].map((id) => cache.get(id)));
    expect(got[0]).toEqual({ nickname: 'n-u0' });
    expect(got[150]).toEqual({ nickname: 'n-u1' });
    expect(r.calls.map((c) => c.length)).toEqual([100, 50]);
    await cache.get('u7');
    expect(r.calls).toHaveLength(2);
  });

  it('remembers that WeCom does not know a customer; does not remember a failed call', async () => {
    let down = true;
    const r = recorder(() => down);
    const cache = new CustomerProfileCache({ fetch: r.fetch, logger, batchDelayMs: 1 });
    expect(await cache.get('a')).toBeNull();
    down = false;
    expect(await cache.get('a')).toEqual({ nickname: 'n-a' });
    expect(await cache.get('ghost-1')).toBeNull();
    expect(await cache.get('ghost-1')).toBeNull();
    expect(r.calls).toEqual([['a'], ['a'], ['ghost-1']]);
  });

  it('stays within its bound', async () => {
    const r = recorder();
    const cache = new CustomerProfileCache({ fetch: r.fetch, logger, batchDelayMs: 1, maxEntries: 2 });
    for (const id of ['a', 'b', 'c']) await cache.get(id);
    await cache.get('a');
    expect(r.calls.flat()).toEqual(['a', 'b', 'c', 'a']);
  });

  it('asks WeCom again once a profile is older than its TTL, and gets the new one', async () => {
    let nickname = 'first';
    let clock = 1_000_000;
    const calls: string[][] = [];
    const fetch = async (ids: readonly string[]) => {
      calls.push([...ids]);
      return new Map(ids.map((id) => [id, { external_userid: id, nickname }]));
    };
    const cache = new CustomerProfileCache({ fetch, logger, batchDelayMs: 1, ttlMs: 60_000, now: () => clock });
    expect(await cache.get('a')).toEqual({ nickname: 'first' });
    nickname = 'renamed';
    clock += 59_999;
    expect(await cache.get('a')).toEqual({ nickname: 'first' });
    expect(calls).toHaveLength(1);
    clock += 1;
    expect(await cache.get('a')).toEqual({ nickname: 'renamed' });
    expect(calls).toEqual([['a'], ['a']]);
    clock += 59_999;
    expect(await cache.get('a')).toEqual({ nickname: 'renamed' });
    expect(calls).toHaveLength(2);
  });
});

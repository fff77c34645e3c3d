import { describe, expect, it } from 'vitest';
import { uniquePrefix } from '@wecom-relay/testkit';
import { RedisOutboundLedger } from '../../src/state/redis/index.js';
import { commandCalls, ownRedisServer } from './helpers.js';

const own = ownRedisServer();

const KF = 'wk-first';

/** Script calls the server has run so far (INFO commandstats). */
async function scriptCalls(): Promise<number> {
  const calls = await commandCalls(own.redis);
  return (calls.get('evalsha') ?? 0) + (calls.get('eval') ?? 0);
}

async function ledger(): Promise<{ ledger: RedisOutboundLedger; prefix: string }> {
  const prefix = uniquePrefix('spoke-batch');
  const made = new RedisOutboundLedger({ redis: own.redis, prefix, firstOpenKfid: KF });
  // Loads the script, so the counts below are of EVALSHA alone.
  await made.customerSpoke(KF, 'u-warm', 1_000);
  return { ledger: made, prefix };
}

describe('RedisOutboundLedger.customerSpoke on one server', () => {
  it("a page's notes for 600 users are written by a few script calls, each window as if noted alone", async () => {
    const { ledger: spoke } = await ledger();
    for (let u = 0; u < 600; u++) await spoke.recordSend(KF, `u-${u}`, `m-${u}`, null, 60_000);
    await spoke.customerSpoke(KF, 'u-0', 9_000, 'msg-newer');
    const before = await scriptCalls();
    await Promise.all(Array.from({ length: 600 }, (_, u) => spoke.customerSpoke(KF, `u-${u}`, 5_000 + u, `msg-${u}`)));
    const used = (await scriptCalls()) - before;
    expect(used).toBeLessThanOrEqual(3);
    expect(used).toBeGreaterThanOrEqual(1);
    // u-0 had spoken later already: its window and count stand; every other window restarted at its own time.
    expect(await spoke.window(KF, 'u-0')).toEqual({ lastCustomerAt: 9_000, sentSince: 0 });
    expect(await spoke.window(KF, 'u-1')).toEqual({ lastCustomerAt: 5_001, sentSince: 0 });
    expect(await spoke.window(KF, 'u-599')).toEqual({ lastCustomerAt: 5_599, sentSince: 0 });
  });

  it('notes for one window in the same turn apply in call order, as sequential ones do', async () => {
    const { ledger: spoke } = await ledger();
    await spoke.customerSpoke(KF, 'u-1', 5_000, 'msg-a');
    await spoke.recordSend(KF, 'u-1', 'm-1', null, 60_000);
    // A repeat and an older note change nothing; a new message of the same second restarts the count.
    await Promise.all([spoke.customerSpoke(KF, 'u-1', 5_000, 'msg-a'), spoke.customerSpoke(KF, 'u-1', 4_000, 'msg-old')]);
    expect(await spoke.window(KF, 'u-1')).toEqual({ lastCustomerAt: 5_000, sentSince: 1 });
    await Promise.all([spoke.customerSpoke(KF, 'u-1', 5_000, 'msg-b'), spoke.recordSend(KF, 'u-2', 'm-2', null, 60_000), spoke.customerSpoke(KF, 'u-1', 5_000, 'msg-b')]);
    expect(await spoke.window(KF, 'u-1')).toEqual({ lastCustomerAt: 5_000, sentSince: 0 });
    await spoke.recordSend(KF, 'u-1', 'm-3', null, 60_000);
    await Promise.all([spoke.customerSpoke(KF, 'u-1', 5_000, 'msg-b'), spoke.customerSpoke(KF, 'u-1', 5_000, 'msg-a')]);
    expect(await spoke.window(KF, 'u-1')).toEqual({ lastCustomerAt: 5_000, sentSince: 1 });
  });

  it('a window that cannot be written fails its own caller only', async () => {
    const { ledger: spoke, prefix } = await ledger();
    // Not a hash: HGET on it is refused.
    await own.redis.set(`${prefix}{user:u-bad}:window`, 'not a hash');
    const results = await Promise.allSettled([
      spoke.customerSpoke(KF, 'u-1', 1_000),
      spoke.customerSpoke(KF, 'u-bad', 1_000),
      spoke.customerSpoke(KF, 'u-2', 2_000, 'msg-2'),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await spoke.window(KF, 'u-1')).toEqual({ lastCustomerAt: 1_000, sentSince: 0 });
    expect(await spoke.window(KF, 'u-2')).toEqual({ lastCustomerAt: 2_000, sentSince: 0 });
    const ttl = await own.redis.pttl(`${prefix}{user:u-2}:window`);
    expect(ttl).toBeGreaterThan(0);
  });

  it("a window outlives WeCom's 48 hours after every customer message, and a busy customer's notes do not each move its expiry", async () => {
    const { ledger: spoke, prefix } = await ledger();
    const key = `${prefix}{user:u-1}:window`;
    const hour = 3600_000;
    const t = 1_700_000_000_000;
    await spoke.customerSpoke(KF, 'u-1', t, 'msg-1');
    expect(await own.redis.pttl(key)).toBeGreaterThan(71 * hour);
    // Messages within the hour, noted one by one: the expiry the first note gave still covers each of them.
    const before = (await commandCalls(own.redis)).get('pexpire') ?? 0;
    for (let i = 1; i <= 50; i++) await spoke.customerSpoke(KF, 'u-1', t + i * 60_000, `msg-1-${i}`);
    expect(((await commandCalls(own.redis)).get('pexpire') ?? 0) - before).toBe(0);
    expect(await spoke.window(KF, 'u-1')).toEqual({ lastCustomerAt: t + 50 * 60_000, sentSince: 0 });
    // 25 hours on (the expiry shortened by as much), the customer writes again: the window must last 48 h from now.
    await own.redis.pexpire(key, 72 * hour - 25 * hour);
    await spoke.customerSpoke(KF, 'u-1', t + 25 * hour, 'msg-2');
    expect(await own.redis.pttl(key)).toBeGreaterThan(48 * hour);
    // A note of an older message moves nothing, and the window still lasts.
    await spoke.customerSpoke(KF, 'u-1', t, 'msg-1');
    expect(await own.redis.pttl(key)).toBeGreaterThan(48 * hour);
    expect(await spoke.window(KF, 'u-1')).toEqual({ lastCustomerAt: t + 25 * hour, sentSince: 0 });
  });
});

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { uniquePrefix } from '@wecom-relay/testkit';
import { RedisOutboundLedger } from '../../src/state/redis/index.js';
import { ownRedisServer } from './helpers.js';

const own = ownRedisServer();

const KF = 'wk-first';

/** A ledger on its own prefix, and the key of user u-1's window with KF. */
function ledger(): { ledger: RedisOutboundLedger; key: string } {
  const prefix = uniquePrefix('window-size');
  return { ledger: new RedisOutboundLedger({ redis: own.redis, prefix, firstOpenKfid: KF }), key: `${prefix}{user:u-1}:window` };
}

// WeCom's msgids are 32 characters of [0-9A-Za-z_-].
const msgid = (n: number): string => `${'Qx7_'.repeat(7)}${String(n).padStart(4, '0')}`;

describe("RedisOutboundLedger: a send window's size in Redis", () => {
  it('stays a compact hash of a couple of hundred bytes however many messages share one second', async () => {
    const { ledger: windows, key } = ledger();
    for (let n = 0; n < 40; n++) await windows.customerSpoke(KF, 'u-1', 5_000, msgid(n));
    expect(await own.redis.object('ENCODING', key)).toBe('listpack');
    expect(await own.redis.memory('USAGE', key)).toBeLessThan(256);
    // A message of a later second starts a fresh list, still compact.
    await windows.customerSpoke(KF, 'u-1', 6_000, msgid(40));
    expect(await own.redis.object('ENCODING', key)).toBe('listpack');
    expect(await windows.window(KF, 'u-1')).toEqual({ lastCustomerAt: 6_000, sentSince: 0 });
  });

  it("still tells the second's last seven messages noted again from new ones", async () => {
    const { ledger: windows } = ledger();
    for (let n = 0; n < 20; n++) await windows.customerSpoke(KF, 'u-1', 5_000, msgid(n));
    await windows.recordSend(KF, 'u-1', 'sent-1', null, 60_000);
    // A page pulled again repeats its msgids: the last seven are known, and the count stands.
    for (let n = 13; n < 20; n++) await windows.customerSpoke(KF, 'u-1', 5_000, msgid(n));
    expect(await windows.window(KF, 'u-1')).toEqual({ lastCustomerAt: 5_000, sentSince: 1 });
    // A message of the same second not seen before restarts it.
    await windows.customerSpoke(KF, 'u-1', 5_000, msgid(99));
    expect(await windows.window(KF, 'u-1')).toEqual({ lastCustomerAt: 5_000, sentSince: 0 });
  });

  it('knows a message noted by a node of the previous version (its mark, the first 8 hex digits of SHA-1) as a repeat', async () => {
    const { ledger: windows, key } = ledger();
    const mark = (id: string): string => createHash('sha1').update(id).digest('hex').slice(0, 8);
    await own.redis.hset(key, 'last', '5000', 'sent', '2', 'ids', [mark(msgid(1)), mark(msgid(2))].join('\n'));
    await windows.customerSpoke(KF, 'u-1', 5_000, msgid(2));
    expect(await windows.window(KF, 'u-1')).toEqual({ lastCustomerAt: 5_000, sentSince: 2 });
    // And what this version notes, the previous one reads the same way.
    await windows.customerSpoke(KF, 'u-1', 5_000, msgid(3));
    expect(await own.redis.hget(key, 'ids')).toBe([mark(msgid(1)), mark(msgid(2)), mark(msgid(3))].join('\n'));
  });

  it('honours a list of whole msgids written by an earlier version, and trims it to the compact size', async () => {
    const { ledger: windows, key } = ledger();
    const earlier = [msgid(1), msgid(2), msgid(3)];
    await own.redis.hset(key, 'last', '5000', 'sent', '2', 'ids', earlier.join('\n'));
    for (const id of earlier) await windows.customerSpoke(KF, 'u-1', 5_000, id);
    expect(await windows.window(KF, 'u-1')).toEqual({ lastCustomerAt: 5_000, sentSince: 2 });
    await windows.customerSpoke(KF, 'u-1', 5_000, msgid(4));
    expect(await windows.window(KF, 'u-1')).toEqual({ lastCustomerAt: 5_000, sentSince: 0 });
    expect((await own.redis.hget(key, 'ids'))!.length).toBeLessThanOrEqual(62);
  });
});

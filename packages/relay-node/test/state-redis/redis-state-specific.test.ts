import { setTimeout as sleep } from 'node:timers/promises';
import type { QueuedEvent } from '@wecom-relay/shared';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, uniquePrefix, type RedisHandle } from '@wecom-relay/testkit';
import type { BusMessage } from '../../src/state/index.js';
import {
  REDIS_KEY_LAYOUT,
  RedisReplyRecordStore,
  RedisAccessTokenStore,
  RedisBindingStore,
  RedisDedupStore,
  RedisDeliveryQueue,
  RedisNodeBus,
  RedisPendingBindingStore,
  RedisPresenceMap,
  RedisSyncCoordinator,
  RedisOutboundLedger,
} from '../../src/state/redis/index.js';
import { capturingLogger, waitFor } from './helpers.js';
import { packedField, packedShard } from '../../src/state/redis/packed-keys.js';
import { PACKED_HASH_ENTRIES } from '../../src/state/redis/packed-tree.js';

let server: RedisHandle;
let redis: Redis;
const extraClients: Redis[] = [];
const silent = pino({ level: 'silent' });

/** A separate connection, as another relay node would have. */
function newClient(opts: { keyPrefix?: string } = {}): Redis {
  const client = new Redis(server.url, opts);
  extraClients.push(client);
  return client;
}

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
});

afterEach(() => {
  for (const client of extraClients.splice(0)) client.disconnect();
});

afterAll(async () => {
  await redis?.quit();
  await server?.stop();
});

const INBOUND: QueuedEvent = {
  type: 'inbound',
  id: 'msg-1',
  externalUserId: 'wm-alice',
  msgType: 'text',
  content: 'hello',
  timestamp: 1_700_000_000,
  wecomMsgType: 'text',
};

describe('RedisSyncCoordinator on real Redis', () => {
  it('20 callers on 20 connections racing for one kf account: exactly one lease', async () => {
    const prefix = uniquePrefix('sync-race');
    const coordinators = Array.from({ length: 20 }, () => new RedisSyncCoordinator({ redis: newClient(), prefix }));
    const leases = await Promise.all(coordinators.map((c) => c.tryAcquire('wk-race', 60_000)));
    const winners = leases.filter((lease) => lease !== null);
    expect(winners).toHaveLength(1);
    expect(winners[0]!.fence).toBe(1);
  });

  it('a holder whose lease expired cannot write even though nobody took over', async () => {
    const sync = new RedisSyncCoordinator({ redis, prefix: uniquePrefix('sync-expired') });
    const lease = (await sync.tryAcquire('wk-1', 80))!;
    expect(await lease.commitCursor('c1')).toBe(true);
    await sleep(250);
    expect(await lease.commitCursor('c2')).toBe(false);
    expect(await lease.renew(60_000)).toBe(false);
    const next = (await sync.tryAcquire('wk-1', 60_000))!;
    expect(await next.cursor()).toBe('c1');
  });

  it('an older callback processed late does not replace a fresher token', async () => {
    let now = 2_000;
    const sync = new RedisSyncCoordinator({ redis, prefix: uniquePrefix('sync-token'), now: () => now });
    await sync.notePending('wk-1', 'fresh');
    now = 1_000;
    await sync.notePending('wk-1', 'late-old');
    const lease = (await sync.tryAcquire('wk-1', 60_000))!;
    expect(await lease.callbackToken()).toEqual({ value: 'fresh', receivedAt: 2_000 });
  });
});

async function cachedScripts(): Promise<number> {
  const info = await redis.info('memory');
  const match = /number_of_cached_scripts:(\d+)/.exec(info);
  if (!match) throw new Error('INFO memory has no number_of_cached_scripts');
  return Number(match[1]);
}

describe('Lua scripts survive SCRIPT FLUSH (NOSCRIPT fallback)', () => {
  it('every scripted operation still works after the server forgets its scripts', async () => {
    const prefix = uniquePrefix('flush');
    const bindings = new RedisBindingStore({ redis, prefix });
    const sync = new RedisSyncCoordinator({ redis, prefix });
    const presence = new RedisPresenceMap({ redis, prefix });
    const queue = new RedisDeliveryQueue({ redis, prefix, logger: silent });
    const tokens = new RedisAccessTokenStore({ redis, prefix });
    await presence.heartbeat('node-a', 60_000);

    const runAll = async (round: number) => {
      await bindings.bind('wm-alice', `gw-${round}`);
      await bindings.unbindAll('gw-none');
      const lease = (await sync.tryAcquire(`wk-${round}`, 60_000))!;
      await sync.notePending(`wk-${round}`, 'tok');
      expect(await lease.takePending()).toBe(true);
      expect(await lease.commitCursor(`cursor-${round}`)).toBe(true);
      expect(await lease.renew(60_000)).toBe(true);
      await lease.release();
      const claim = await presence.claim(`gw-${round}`, 'node-a');
      expect(await presence.release(`gw-${round}`, 'node-a', claim.generation)).toBe(true);
      expect(await presence.liveNodes()).toEqual([{ nodeId: 'node-a', gateways: 0, fresh: true }]);
      const id = await queue.append(`gw-${round}`, INBOUND);
      await queue.ack(`gw-${round}`, id);
      expect(await queue.lastAcked(`gw-${round}`)).toBe(id);
      expect(await queue.trim(`gw-${round}`, { maxAgeMs: 60_000, maxItems: 10 })).toBe(0);
      await tokens.write('t', Date.now() + 1000);
      await tokens.invalidate('t');
      expect(await tokens.tryLockRefresh(60_000)).toBe(true);
      await tokens.unlockRefresh();
    };

    await runAll(1);
    expect(await cachedScripts()).toBeGreaterThan(0);
    expect(await redis.call('SCRIPT', 'FLUSH')).toBe('OK');
    expect(await cachedScripts()).toBe(0);
    await runAll(2);
    expect(await cachedScripts()).toBeGreaterThan(0);
    expect(await bindings.gatewayFor('wm-alice')).toBe('gw-2');
    expect(await bindings.usersOf('gw-1')).toEqual([]);
  });
});

describe('RedisPresenceMap across nodes', () => {
  it('a node that dies without cleanup stops owning its gateways once its heartbeat key expires', async () => {
    const prefix = uniquePrefix('presence-dead');
    const nodeA = newClient();
    const atA = new RedisPresenceMap({ redis: nodeA, prefix });
    const atB = new RedisPresenceMap({ redis: newClient(), prefix });
    await atA.heartbeat('node-a', 150);
    await atB.heartbeat('node-b', 60_000);
    const claimed = await atA.claim('gw-1', 'node-a');
    expect(await atB.lookup('gw-1')).toEqual({ nodeId: 'node-a', generation: claimed.generation });
    expect(await atB.countOwnedBy('node-a')).toBe(1);

    nodeA.disconnect(); // as if SIGKILLed: no release, no further heartbeats
    await sleep(400);

    expect(await atB.lookup('gw-1')).toBeNull();
    expect(await atB.countOwnedBy('node-a')).toBe(0);
    const taken = await atB.claim('gw-1', 'node-b');
    expect(taken.previous).toBeNull();
    expect(taken.generation).toBeGreaterThan(claimed.generation);
    expect(await atB.lookup('gw-1')).toEqual({ nodeId: 'node-b', generation: taken.generation });
    expect(await atB.countOwnedBy('node-b')).toBe(1);
  });

  it('a superseded node no longer counts the gateway; a released one neither', async () => {
    const prefix = uniquePrefix('presence-count');
    const presence = new RedisPresenceMap({ redis, prefix });
    await presence.heartbeat('node-a', 60_000);
    await presence.heartbeat('node-b', 60_000);
    await presence.claim('gw-1', 'node-a');
    const b = await presence.claim('gw-1', 'node-b');
    expect(await presence.countOwnedBy('node-a')).toBe(0);
    expect(await presence.release('gw-1', 'node-b', b.generation)).toBe(true);
    expect(await presence.countOwnedBy('node-b')).toBe(0);
  });
});

describe('RedisNodeBus on real Redis', () => {
  it('drops malformed messages with a log line and keeps delivering good ones', async () => {
    const prefix = uniquePrefix('bus-malformed');
    const { logger, records } = capturingLogger();
    const bus = new RedisNodeBus({ redis, prefix, logger });
    const received: BusMessage[] = [];
    await bus.subscribe('node-a', (m) => void received.push(m));
    const channel = `${prefix}bus:node-a`;
    for (const raw of ['not json', '[]', 'null', '{"kind":"wake"}', '{"kind":"boom","gatewayId":"g"}', '{"kind":"superseded","gatewayId":"g","generation":"2"}']) {
      await redis.publish(channel, raw);
    }
    const good: BusMessage = { kind: 'wake', gatewayId: 'gw-1', sentAt: 5 };
    await bus.publish('node-a', good);
    await waitFor(() => received.length >= 1, 'the good message');
    expect(received).toEqual([good]);
    expect(records.filter((r) => r.msg === 'node bus dropped a malformed message')).toHaveLength(6);
    expect(bus.isLive()).toBe(true);
    await bus.close();
  });

  it('a rejecting async handler is logged, not left unhandled', async () => {
    const prefix = uniquePrefix('bus-async');
    const { logger, records } = capturingLogger();
    const bus = new RedisNodeBus({ redis, prefix, logger });
    await bus.subscribe('node-a', async () => {
      throw new Error('async handler bug');
    });
    await bus.publish('node-a', { kind: 'wake', gatewayId: 'gw-1', sentAt: 1 });
    await waitFor(() => records.some((r) => r.msg === 'node bus handler failed'), 'the handler failure log');
    await bus.close();
  });

  it('close releases only its own subscriber connection, never the client passed in', async () => {
    const bus = new RedisNodeBus({ redis, prefix: uniquePrefix('bus-close'), logger: silent });
    await bus.subscribe('node-a', () => {});
    await bus.close();
    await bus.close();
    expect(bus.isLive()).toBe(false);
    expect(await redis.ping()).toBe('PONG');
  });
});

describe('RedisDeliveryQueue on real Redis', () => {
  it('refuses to ack an id beyond anything issued, so later items are not skipped', async () => {
    const queue = new RedisDeliveryQueue({ redis, prefix: uniquePrefix('queue-future'), logger: silent });
    const first = await queue.append('gw-1', INBOUND);
    await expect(queue.ack('gw-1', '99999999999999-0')).rejects.toMatchObject({ code: 'FRAME_INVALID' });
    await expect(queue.ack('gw-never', first)).rejects.toMatchObject({ code: 'FRAME_INVALID' });
    expect(await queue.lastAcked('gw-1')).toBeNull();
    const second = await queue.append('gw-1', INBOUND);
    expect((await queue.readAfter('gw-1', null, 10)).map((i) => i.id)).toEqual([first, second]);
  });

  it('ack deletes the delivered entries from the stream', async () => {
    const prefix = uniquePrefix('queue-ack-trim');
    const queue = new RedisDeliveryQueue({ redis, prefix, logger: silent });
    const ids = [await queue.append('gw-1', INBOUND), await queue.append('gw-1', INBOUND), await queue.append('gw-1', INBOUND)];
    await queue.ack('gw-1', ids[1]!);
    expect(await redis.xlen(`${prefix}{gw:gw-1}:queue`)).toBe(1);
  });

  it('an ack covering many entries leaves an empty stream small, not a stream node of dead entries', async () => {
    const prefix = uniquePrefix('queue-ack-free');
    const queue = new RedisDeliveryQueue({ redis, prefix, logger: silent });
    const ids = await queue.appendMany('gw-1', Array.from({ length: 30 }, () => ({ event: INBOUND })));
    await queue.ack('gw-1', ids.at(-1)!);
    const stream = `${prefix}{gw:gw-1}:queue`;
    expect(await redis.xlen(stream)).toBe(0);
    // An empty stream is a few hundred bytes; a node still holding the 30 entries as deleted ones is several KB.
    expect(Number(await redis.call('MEMORY', 'USAGE', stream))).toBeLessThan(1_024);
  });

  it('an ack covering several entries deletes exactly those, up to and including its id, in one trim', async () => {
    const prefix = uniquePrefix('queue-ack-one-trim');
    const queue = new RedisDeliveryQueue({ redis, prefix, logger: silent });
    const stream = `${prefix}{gw:gw-1}:queue`;
    for (const id of ['5-1', '5-2', '5-3', '6-0']) await redis.xadd(stream, id, 'event', JSON.stringify(INBOUND));
    const calls = async (command: string) => Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(await redis.info('commandstats'))?.[1] ?? 0);
    const [xtrim, xdel] = [await calls('xtrim'), await calls('xdel')];
    await queue.ack('gw-1', '5-2');
    expect((await redis.xrange(stream, '-', '+')).map(([id]) => id)).toEqual(['5-3', '6-0']);
    expect((await calls('xtrim')) - xtrim).toBe(1);
    expect((await calls('xdel')) - xdel).toBe(0);
    // A sequence too long for a Lua number to step exactly: trimmed below the id, and the id deleted on its own.
    for (const id of ['7-99999999999999989', '7-99999999999999990', '7-99999999999999991', '8-0']) await redis.xadd(stream, id, 'event', JSON.stringify(INBOUND));
    await queue.ack('gw-1', '7-99999999999999990');
    expect((await redis.xrange(stream, '-', '+')).map(([id]) => id)).toEqual(['7-99999999999999991', '8-0']);
    expect(await queue.lastAcked('gw-1')).toBe('7-99999999999999990');
  });

  it('reads a short tail with one read, not a second one that finds nothing', async () => {
    const prefix = uniquePrefix('queue-short-read');
    // Counted by the server: one server reads with XREAD, a Redis Cluster with XRANGE (also inside a script).
    const reads = async () => {
      const stats = await redis.info('commandstats');
      return ['xrange', 'xread'].reduce((n, c) => n + Number(new RegExp(`^cmdstat_${c}:calls=(\\d+)`, 'm').exec(stats)?.[1] ?? 0), 0);
    };
    const queue = new RedisDeliveryQueue({ redis, prefix, logger: silent });
    const first = await queue.append('gw-1', INBOUND);
    const second = await queue.append('gw-1', INBOUND);
    let before = await reads();
    expect((await queue.readAfter('gw-1', null, 50)).map((i) => i.id)).toEqual([first, second]);
    expect((await reads()) - before).toBe(1);
    before = await reads();
    expect(await queue.readAfter('gw-1', second, 50)).toEqual([]);
    expect((await reads()) - before).toBe(1);
  });

  it('drops an undecodable entry with a log line and still returns the rest', async () => {
    const prefix = uniquePrefix('queue-garbage');
    const { logger, records } = capturingLogger();
    const queue = new RedisDeliveryQueue({ redis, prefix, logger });
    const good1 = await queue.append('gw-1', INBOUND);
    await redis.xadd(`${prefix}{gw:gw-1}:queue`, '*', 'event', '{broken');
    await redis.xadd(`${prefix}{gw:gw-1}:queue`, '*', 'other', 'x');
    const good2 = await queue.append('gw-1', INBOUND);
    const items = await queue.readAfter('gw-1', null, 2);
    expect(items.map((i) => i.id)).toEqual([good1, good2]);
    expect(records.filter((r) => r.msg === 'delivery queue entry could not be decoded; dropped')).toHaveLength(2);
    expect(await redis.xlen(`${prefix}{gw:gw-1}:queue`)).toBe(2);
  });
});

describe('keys and prefixes', () => {
  it('refuses a prefix with braces, which would break the hash-tag layout', () => {
    expect(() => new RedisDedupStore({ redis, prefix: 'wr:{x}:' })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });

  it('moves a binding correctly on a client that adds its own keyPrefix', async () => {
    const client = newClient({ keyPrefix: 'kp:' });
    const store = new RedisBindingStore({ redis: client, prefix: uniquePrefix('keyprefix') });
    await store.bind('wm-alice', 'gw-1');
    expect(await store.bind('wm-alice', 'gw-2')).toBe('gw-1');
    expect(await store.usersOf('gw-1')).toEqual([]);
    expect(await store.usersOf('gw-2')).toEqual(['wm-alice']);
  });

  it("finds a page's owners, alive or not, on a client that adds its own keyPrefix", async () => {
    const client = newClient({ keyPrefix: 'kp:' });
    const presence = new RedisPresenceMap({ redis: client, prefix: uniquePrefix('keyprefix-owners') });
    await presence.heartbeat('node-a', 60_000);
    const a = await presence.claim('gw-a', 'node-a');
    await presence.claim('gw-b', 'node-gone');
    // Looked up side by side: one batch, whose script names the alive keys itself.
    const owners = await Promise.all(['gw-a', 'gw-b', 'gw-none'].map((g) => presence.lookup(g)));
    expect(owners).toEqual([{ nodeId: 'node-a', generation: a.generation }, null, null]);
  });

  it("lets a dead node's set of owned gateways expire after its last heartbeat", async () => {
    const prefix = uniquePrefix('owned');
    const presence = new RedisPresenceMap({ redis, prefix });
    await presence.heartbeat('node-gone', 60_000);
    await presence.claim('gw-1', 'node-gone');
    await presence.heartbeat('node-gone', 60_000);
    const ttl = await redis.pttl(`${prefix}{node:node-gone}:owned`);
    expect(ttl).toBeGreaterThan(60_000);
    expect(ttl).toBeLessThanOrEqual(24 * 3600 * 1000);
  });

  it('lets the queue and acked pointer of a gateway that never returns expire', async () => {
    const prefix = uniquePrefix('idle');
    const queue = new RedisDeliveryQueue({ redis, prefix, logger: silent, idleTtlMs: 60_000 });
    const first = await queue.append('gw-gone', INBOUND);
    await queue.append('gw-gone', INBOUND, { dedupKey: 'msg-idle' });
    await queue.ack('gw-gone', first);
    for (const key of [`${prefix}{gw:gw-gone}:queue`, `${prefix}{gw:gw-gone}:acked`]) {
      const ttl = await redis.pttl(key);
      expect(ttl, key).toBeGreaterThan(0);
      expect(ttl, key).toBeLessThanOrEqual(60_000);
    }
  });

  it("moves a queue's expiry on the append that creates it and an hour after this node last moved it, not on every append", async () => {
    const DAY = 24 * 3600_000;
    const prefix = uniquePrefix('idle-refresh');
    let now = 0;
    const queue = new RedisDeliveryQueue({ redis, prefix, logger: silent, idleTtlMs: DAY, now: () => now });
    const stream = `${prefix}{gw:gw-1}:queue`;
    const batch = (id: string) => [{ event: { ...INBOUND, id }, options: { dedupKey: id, dedupAt: 1_700_000_000 } }];
    await queue.appendMany('gw-1', batch('m-1'));
    expect(await redis.pttl(stream)).toBeGreaterThan(DAY - 60_000);
    await redis.pexpire(stream, 300_000);
    now += 3599_000;
    await queue.appendMany('gw-1', batch('m-2'));
    expect(await redis.pttl(stream)).toBeLessThanOrEqual(300_000);
    // A repeated key appends nothing and moves nothing; the next append that does, an hour on, moves it.
    now += 1_000;
    await queue.appendMany('gw-1', batch('m-2'));
    expect(await redis.pttl(stream)).toBeLessThanOrEqual(300_000);
    await queue.appendMany('gw-1', batch('m-3'));
    expect(await redis.pttl(stream)).toBeGreaterThan(DAY - 60_000);
    // Gone within the hour: created again, with its expiry.
    await redis.del(stream);
    await queue.appendMany('gw-1', batch('m-4'));
    expect(await redis.pttl(stream)).toBeGreaterThan(DAY - 60_000);
    expect((await queue.readAfter('gw-1', null, 10)).map((i) => (i.event as { id: string }).id)).toEqual(['m-4']);
  });

  it('a reply claim and a reply record live beside their gateway’s keys and always expire', async () => {
    const prefix = uniquePrefix('reply-ttl');
    const store = new RedisReplyRecordStore({ redis, prefix });
    const key = { gatewayId: 'gw-ttl', requestId: 'r-1', fingerprint: 'f' };
    await store.claim(key, 'node-a', 30_000);
    const [name] = await redis.keys(`${prefix}*`);
    expect(name).toMatch(new RegExp(`^${prefix}\\{gw:gw-ttl\\}:reply:`));
    const claimTtl = await redis.pttl(name!);
    expect(claimTtl).toBeGreaterThan(0);
    expect(claimTtl).toBeLessThanOrEqual(30_000);
    await store.complete(key, { msgids: ['m'], partsTotal: 1 }, 24 * 3600_000);
    const recordTtl = await redis.pttl(name!);
    expect(recordTtl).toBeGreaterThan(30_000);
    expect(recordTtl).toBeLessThanOrEqual(24 * 3600_000);
  });

  it("a single-account relay's send window key is the first account's; another account's sits beside it in the user's slot", async () => {
    const prefix = uniquePrefix('window');
    // As a relay serving one account left it: one hash per user.
    await redis.hset(`${prefix}{user:wm-old}:window`, 'last', 1_000, 'sent', 5, 'ids', 'msg-1');
    const ledger = new RedisOutboundLedger({ redis, prefix, firstOpenKfid: 'wk-first' });
    expect(await ledger.window('wk-first', 'wm-old')).toEqual({ lastCustomerAt: 1_000, sentSince: 5 });
    expect(await ledger.window('wk-second', 'wm-old')).toEqual({ lastCustomerAt: null, sentSince: 0 });
    await ledger.customerSpoke('wk-second', 'wm-old', 2_000);
    expect(await redis.hget(`${prefix}{user:wm-old}:window:wk-second`, 'last')).toBe('2000');
    expect((await ledger.window('wk-first', 'wm-old')).sentSince).toBe(5);
  });

  it('every key the stores write matches REDIS_KEY_LAYOUT, and the layout lists nothing unused', async () => {
    const prefix = uniquePrefix('layout');
    const base = { redis, prefix };
    const bindings = new RedisBindingStore(base);
    await bindings.bind('wm-alice', 'gw-1');
    await bindings.bind('wm-alice', 'gw-2');
    const pending = new RedisPendingBindingStore(base);
    const limits = { reuseWithinMs: 0, maxLive: 100, ratePerWindow: 1_000, rateWindowMs: 60_000 };
    await pending.issue('tok-1', 'gw-1', 60_000, limits);
    await pending.issue('tok-2', 'gw-1', 60_000, limits);
    await pending.consume('tok-1', 'msg-1', 60_000);
    await pending.noteGuessMiss('wm-alice', 60_000);
    await bindings.bindInOrder('wm-bob', 'gw-1', { at: 1, eventId: 'msg-2', openKfid: 'wk-2' });
    const dedup = new RedisDedupStore(base);
    await dedup.claim('msg-1', 60_000);
    await dedup.decide('r:msg-1', '>gw-1', 60_000);
    await dedup.decide('r:msg-2', '>gw-1', 60_000, { at: 1_700_000_000 });
    // One more decision than a packed hash takes, all in one minute's shard: the last goes one level below.
    const crowd: string[] = [];
    for (let i = 0; crowd.length <= PACKED_HASH_ENTRIES; i++) if (packedShard(packedField(`r:crowd-${i}`)) === 0) crowd.push(`r:crowd-${i}`);
    await dedup.decideMany(
      crowd.map((key) => ({ key, value: '>gw-1', placement: { at: 1_700_000_000 } })),
      60_000,
    );
    const sync = new RedisSyncCoordinator(base);
    await sync.notePending('wk-1', 'cb');
    const lease = (await sync.tryAcquire('wk-1', 60_000))!;
    await lease.commitCursor('c');
    await sync.notePending('wk-1', null);
    const presence = new RedisPresenceMap(base);
    await presence.heartbeat('node-a', 60_000);
    await presence.claim('gw-1', 'node-a');
    const queue = new RedisDeliveryQueue({ ...base, logger: silent });
    const id = await queue.append('gw-1', INBOUND);
    await queue.append('gw-1', INBOUND, { dedupKey: 'msg-1', dedupTtlMs: 60_000 });
    await queue.append('gw-1', INBOUND, { dedupKey: 'msg-2', dedupTtlMs: 60_000, dedupAt: 1_700_000_000 });
    // One more marker than a packed hash takes, in one hour of one gateway: the last goes one level below.
    await queue.appendMany(
      'gw-2',
      Array.from({ length: PACKED_HASH_ENTRIES + 1 }, (_, i) => ({ event: INBOUND, options: { dedupKey: `msg-${i}`, dedupTtlMs: 60_000, dedupAt: 1_700_000_000 } })),
    );
    await queue.ack('gw-1', id);
    const tokens = new RedisAccessTokenStore(base);
    await tokens.write('t', 1);
    await tokens.tryLockRefresh(60_000);
    const ledger = new RedisOutboundLedger({ ...base, firstOpenKfid: 'wk-first' });
    await ledger.customerSpoke('wk-first', 'wm-alice', 1_000);
    await ledger.customerSpoke('wk-second', 'wm-alice', 1_000);
    await ledger.recordSend('wk-first', 'wm-alice', 'wecom-msg-1', { gatewayId: 'gw-1', requestId: 'r-1', externalUserId: 'wm-alice' }, 60_000);
    await new RedisReplyRecordStore(base).claim({ gatewayId: 'gw-1', requestId: 'r-1', fingerprint: 'f' }, 'node-a', 60_000);

    const keys = new Set<string>();
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      for (const key of batch) keys.add(key.slice(prefix.length));
    } while (cursor !== '0');

    // A `{P` inside a pattern is a hash tag naming another key by its full name, prefix included.
    const literalPrefix = prefix.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
    const patterns = Object.values(REDIS_KEY_LAYOUT)
      .filter((p) => !p.startsWith('Pbus:'))
      .map((p) => new RegExp('^' + p.slice(1).replace(/[{}]/g, '\\$&').replaceAll('\\{P', `\\{${literalPrefix}`).replace(/<[A-Za-z]+>/g, '[^{}]+') + '$'));
    const unmatched = [...keys].filter((key) => !patterns.some((re) => re.test(key)));
    expect(unmatched).toEqual([]);
    // Every pattern except the bus channel showed up, so the layout lists nothing stale.
    expect(patterns.filter((re) => ![...keys].some((key) => re.test(key)))).toEqual([]);
  });
});

import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, uniquePrefix, type RedisHandle } from '@wecom-relay/testkit';
import { DeliveryService } from '../../src/delivery/delivery-service.js';
import { MediaInliner } from '../../src/delivery/media-inliner.js';
import type { DeliverySession } from '../../src/delivery/delivery-session.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { RedisDeliveryQueue, RedisNodeBus, RedisPresenceMap } from '../../src/state/redis/index.js';
import { Semaphore } from '../../src/util/semaphore.js';
import { waitFor } from './helpers.js';

let server: RedisHandle;
let redis: Redis;
const silent = pino({ level: 'silent' });

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
});

afterAll(async () => {
  await redis?.quit();
  await server?.stop();
});

const ownerKey = (prefix: string, gatewayId: string) => `${prefix}{gw:${gatewayId}}:owner`;

/**
 * Watches a key for `forMs`, polling every 50 ms; resolves false the first time it is missing. A live owner's
 * record must be there at every look, however long the watch.
 */
async function presentThroughout(key: string, forMs: number): Promise<boolean> {
  const until = Date.now() + forMs;
  while (Date.now() < until) {
    if ((await redis.exists(key)) !== 1) return false;
    await sleep(50);
  }
  return true;
}

describe('presence owner records expire unless their owner holds them', () => {
  it('a released or abandoned gateway\'s owner record expires by itself', async () => {
    const prefix = uniquePrefix('owner-ttl');
    const presence = new RedisPresenceMap({ redis, prefix, ownerTtlMs: 300 });
    await presence.heartbeat('node-a', 60_000);
    const released = await presence.claim('gw-released', 'node-a');
    await presence.release('gw-released', 'node-a', released.generation);
    await presence.claim('gw-abandoned', 'node-a');
    expect(await redis.pttl(ownerKey(prefix, 'gw-abandoned'))).toBeGreaterThan(0);
    await waitFor(async () => (await redis.exists(ownerKey(prefix, 'gw-released'), ownerKey(prefix, 'gw-abandoned'))) === 0, 'owner records expire');
  });

  it('a live owner that keeps beating keeps its gateways, for many times the record\'s lifetime', async () => {
    const prefix = uniquePrefix('owner-live');
    const ownerTtlMs = 1_500;
    const presence = new RedisPresenceMap({ redis, prefix, ownerTtlMs });
    await presence.heartbeat('node-a', 60_000, []);
    await presence.claim('gw-held', 'node-a');
    let beating = true;
    const beats = (async () => {
      while (beating) {
        await presence.heartbeat('node-a', 60_000, ['gw-held']);
        await sleep(50);
      }
    })();
    try {
      expect(await presentThroughout(ownerKey(prefix, 'gw-held'), 4 * ownerTtlMs)).toBe(true);
      expect(await presence.lookup('gw-held')).toMatchObject({ nodeId: 'node-a' });
    } finally {
      beating = false;
      await beats;
    }
    await waitFor(async () => (await redis.exists(ownerKey(prefix, 'gw-held'))) === 0, 'record expires once the owner stops');
  });

  it('a node that lost a gateway does not keep the new owner\'s record alive', async () => {
    const prefix = uniquePrefix('owner-lost');
    const atA = new RedisPresenceMap({ redis, prefix, ownerTtlMs: 10 * 60_000 });
    const atB = new RedisPresenceMap({ redis, prefix, ownerTtlMs: 60_000 });
    await atA.heartbeat('node-a', 60_000);
    await atB.heartbeat('node-b', 60_000);
    await atA.claim('gw-moved', 'node-a');
    await atB.claim('gw-moved', 'node-b');
    await atA.heartbeat('node-a', 60_000, ['gw-moved']);
    expect(await redis.pttl(ownerKey(prefix, 'gw-moved'))).toBeLessThanOrEqual(60_000);
  });
});

describe('the delivery service\'s heartbeat keeps the gateways it holds', () => {
  it('an attached gateway stays owned by its live node past the owner record\'s lifetime', async () => {
    const prefix = uniquePrefix('owner-delivery');
    const ownerTtlMs = 1_500;
    const presence = new RedisPresenceMap({ redis, prefix, ownerTtlMs });
    const bus = new RedisNodeBus({ redis, prefix, logger: silent });
    const delivery = new DeliveryService({
      nodeId: 'node-d',
      queue: new RedisDeliveryQueue({ redis, prefix, logger: silent }),
      presence,
      bus,
      media: new MediaInliner({
        source: { download: () => Promise.reject(new Error('no media in this test')) },
        maxBytes: 1,
        transfers: new Semaphore(1),
        logger: silent,
      }),
      logger: silent,
      metrics: createMetrics('node-d'),
      retention: { maxAgeMs: 60_000, maxItems: 100 },
      heartbeatMs: 50,
      // No sweep during the test: only the heartbeat may keep the record.
      sweepCallsPerSecond: 0,
    });
    const session: DeliverySession = {
      gatewayId: 'gw-attached',
      sessionId: 's-1',
      delivery: 'legacy',
      resumeAfter: undefined,
      features: [],
      openedAt: Date.now(),
      isOpen: true,
      send: () => Promise.resolve(),
      close: () => undefined,
    };
    await delivery.start();
    try {
      await delivery.attach(session, async () => undefined);
      expect(await presentThroughout(ownerKey(prefix, 'gw-attached'), 4 * ownerTtlMs)).toBe(true);
      expect(await presence.lookup('gw-attached')).toMatchObject({ nodeId: 'node-d' });
    } finally {
      await delivery.detach(session);
      await delivery.close();
      await bus.close();
    }
  });
});

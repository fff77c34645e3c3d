import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisCluster, uniquePrefix, type RedisClusterHandle } from '@wecom-relay/testkit';
import { createRedisBackend } from '../../src/state/redis-backend.js';
import type { StateBackend } from '../../src/state/state-backend.js';
import { capturingLogger } from './helpers.js';

/** Keys under `prefix` on one master, and how many of them match `part`. */
async function keysOn(port: number, prefix: string, part: RegExp): Promise<{ all: number; matching: number }> {
  const c = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => undefined);
  try {
    let all = 0;
    let matching = 0;
    let cursor = '0';
    do {
      const [next, keys] = await c.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      all += keys.length;
      matching += keys.filter((k) => part.test(k)).length;
    } while (cursor !== '0');
    return { all, matching };
  } finally {
    c.disconnect();
  }
}

// The issue's "no shard holds a disproportionate part": a node's state for many users and gateways, counted per master.
describe('state spread over the shards of a Redis Cluster', () => {
  let cluster: RedisClusterHandle;
  let b: StateBackend;
  const prefix = uniquePrefix('spread');

  beforeAll(async () => {
    cluster = await startRedisCluster();
    const nodes = cluster.seeds.map((s) => ({ host: s.slice(0, s.lastIndexOf(':')), port: Number(s.slice(s.lastIndexOf(':') + 1)) }));
    b = await createRedisBackend({ redis: { kind: 'cluster', nodes, tls: false, password: undefined }, bindings: 'redis', databasePath: ':memory:', logger: capturingLogger().logger, prefix, nodeId: 'spread-0' });
  }, 120_000);

  afterAll(async () => {
    await b?.close();
    await cluster?.stop();
  }, 60_000);

  it('puts no more than half of the bindings, or of all keys, on any one of the three masters', { timeout: 60_000 }, async () => {
    const users = 600;
    const gateways = 30;
    await b.presence.heartbeat('spread-0', 60_000);
    for (let g = 0; g < gateways; g++) {
      await b.presence.claim(`gw-${g}`, 'spread-0');
      await b.queue.append(`gw-${g}`, { type: 'text', n: g } as never, { dedupKey: `m-${g}`, dedupTtlMs: 60_000 });
    }
    await Promise.all(Array.from({ length: users }, (_, u) => b.bindings.bind(`wm-${u}`, `gw-${u % gateways}`)));
    expect(await b.bindings.gatewayFor('wm-7')).toBe('gw-7');

    const masters = await cluster.masters();
    const counts = await Promise.all(masters.map((m) => keysOn(m.port, prefix, /\{user:/)));
    const total = counts.reduce((n, c) => n + c.all, 0);
    const bindings = counts.reduce((n, c) => n + c.matching, 0);
    console.log(`[spread] keys per master: ${counts.map((c, i) => `:${masters[i]!.port} ${c.all} (${c.matching} bindings)`).join(', ')}`);
    expect(bindings).toBe(users);
    // Even spread is a third each; a layout with every binding under one tag puts all of them on one master.
    for (const c of counts) {
      expect(c.matching / bindings).toBeLessThanOrEqual(0.5);
      expect(c.all / total).toBeLessThanOrEqual(0.5);
    }
  });
});

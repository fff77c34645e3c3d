import { Redis, type Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisCluster, uniquePrefix, type RedisClusterHandle, type RedisClusterNode } from '@wecom-relay/testkit';
import { createClusterClient } from '../../src/state/redis/redis-cluster-client.js';
import { LuaScript } from '../../src/state/redis/lua-script.js';

// The relay's Cluster client batches a tick's commands per shard (auto-pipelining). A batch that mixes a slot which
// just moved with slots still on the node gets MOVED (or ASK, mid-migration) for the moved slot's commands only,
// which ioredis neither retries nor learns from; these commands must still run, on the slot's new owner.
let cluster: RedisClusterHandle;
let client: Cluster;
const plain: Redis[] = [];

const INCR_BY = new LuaScript('test-incr-by', "return redis.call('INCRBY', KEYS[1], ARGV[1])");

function direct(node: RedisClusterNode): Redis {
  const c = new Redis({ host: node.host, port: node.port, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => undefined);
  plain.push(c);
  return c;
}

/** Two keys served by the same master from different slots, so one batch carries both. */
async function keysSharingAMaster(label: string): Promise<{ moving: string; staying: string; owner: RedisClusterNode }> {
  const prefix = uniquePrefix(label);
  const moving = `${prefix}{moving-${label}}:n`;
  const owner = await cluster.masterOf(moving);
  for (let i = 0; i < 1000; i++) {
    const staying = `${prefix}{staying-${i}}:n`;
    if ((await cluster.masterOf(staying)).port === owner.port && (await cluster.slotOf(staying)) !== (await cluster.slotOf(moving))) {
      return { moving, staying, owner };
    }
  }
  throw new Error('no key found on the same master');
}

async function otherMaster(than: RedisClusterNode): Promise<RedisClusterNode> {
  return (await cluster.masters()).find((m) => m.port !== than.port)!;
}

/**
 * Holds the client's slot-map refreshes (periodic and MOVED-triggered) until `release`, so the test decides when
 * the client learns a slot's new owner from the cluster rather than from MOVED replies alone.
 */
function holdSlotRefreshes(): { release: () => Promise<void> } {
  const refresh = client.refreshSlotsCache.bind(client);
  const held: ((err?: Error | null) => void)[] = [];
  client.refreshSlotsCache = (callback) => {
    if (callback) held.push(callback);
  };
  return {
    release: async () => {
      if (client.refreshSlotsCache === refresh) return;
      client.refreshSlotsCache = refresh;
      await new Promise<void>((resolve, reject) => refresh((err) => (err ? reject(err) : resolve())));
      for (const callback of held.splice(0)) callback();
    },
  };
}

/** MOVED replies the given nodes have sent so far (each one a command that went to the wrong node). */
async function movedReplies(...nodes: RedisClusterNode[]): Promise<number> {
  let total = 0;
  for (const node of nodes) total += Number(/errorstat_MOVED:count=(\d+)/.exec(await direct(node).info('errorstats'))?.[1] ?? 0);
  return total;
}

/** One batch: a plain write on the staying slot beside a command and a script on the moving slot. */
function mixedBatch(keys: { moving: string; staying: string }): Promise<unknown[]> {
  return Promise.all([client.incr(keys.staying), client.incr(keys.moving), INCR_BY.run(client, [keys.moving], [10])]);
}

beforeAll(async () => {
  cluster = await startRedisCluster();
  client = createClusterClient(
    { kind: 'cluster', nodes: [{ host: '127.0.0.1', port: (await cluster.masters())[0]!.port }], tls: false, password: undefined },
    { enableAutoPipelining: true, maxRetriesPerRequest: 2 },
  );
  client.on('error', () => undefined);
}, 60_000);

afterAll(async () => {
  client?.disconnect();
  for (const c of plain.splice(0)) c.disconnect();
  await cluster?.stop();
});

describe('batched commands on a Redis Cluster while slots move', () => {
  it('runs a batch on the new owner after its slot moved (MOVED), and later batches go there directly', async () => {
    const keys = await keysSharingAMaster('moved');
    await mixedBatch(keys); // the client's slot map now names the current owner
    const target = await otherMaster(keys.owner);
    const refreshes = holdSlotRefreshes();
    try {
      expect(await cluster.moveSlot(await cluster.slotOf(keys.moving), target)).toBe(1);

      expect(await mixedBatch(keys)).toEqual([2, 12, 22]);
      // Learnt from MOVED alone: the moved slot goes to its new owner, the slot that stayed to its owner.
      const redirected = await movedReplies(keys.owner, target);
      expect(await mixedBatch(keys)).toEqual([3, 23, 33]);
      expect(await mixedBatch(keys)).toEqual([4, 34, 44]);
      expect(await movedReplies(keys.owner, target)).toBe(redirected);
    } finally {
      await refreshes.release();
    }
    expect(await mixedBatch(keys)).toEqual([5, 45, 55]);
    expect(await direct(target).get(keys.moving)).toBe('55');
    expect(await direct(keys.owner).get(keys.staying)).toBe('5');
  });

  it('runs a batch grouped before a slot-map refresh moved one of its slots elsewhere', async () => {
    const keys = await keysSharingAMaster('split');
    const list = `${keys.staying.slice(0, -':n'.length)}:list`; // the staying key's slot: batched with it
    await mixedBatch(keys);
    const target = await otherMaster(keys.owner);
    const refreshes = holdSlotRefreshes();
    let popped = false;
    try {
      expect(await cluster.moveSlot(await cluster.slotOf(keys.moving), target)).toBe(1);
      // A blocking pop keeps a batch to the owner in flight; the next commands for the owner wait behind it,
      // grouped by the map of the moment, which still has the moved slot on the owner.
      const blocked = client.blpop(list, 0);
      await new Promise((resolve) => setImmediate(resolve));
      const batch = mixedBatch(keys);
      await refreshes.release(); // the client now knows the slot's new owner, before the waiting batch is sent
      await direct(keys.owner).rpush(list, 'go');
      popped = true;
      expect(await batch).toEqual([2, 12, 22]);
      expect(await blocked).toEqual([list, 'go']);
    } finally {
      await refreshes.release();
      if (!popped) await direct(keys.owner).rpush(list, 'go');
    }
    expect(await direct(target).get(keys.moving)).toBe('22');
    expect(await direct(keys.owner).get(keys.staying)).toBe('2');
  });

  it('runs a batch on the importing node while its slot is being migrated (ASK), then on the new owner', async () => {
    const keys = await keysSharingAMaster('ask');
    await mixedBatch(keys);
    const from = keys.owner;
    const to = await otherMaster(from);
    const slot = await cluster.slotOf(keys.moving);
    const [fromId, toId] = [String(await direct(from).call('CLUSTER', 'MYID')), String(await direct(to).call('CLUSTER', 'MYID'))];
    await direct(to).call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', fromId);
    await direct(from).call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', toId);
    await direct(from).call('MIGRATE', to.host, to.port, keys.moving, 0, 5_000);

    // The old owner still serves the slot but no longer holds the key: it answers ASK.
    expect(await mixedBatch(keys)).toEqual([2, 12, 22]);

    for (const node of [to, from, ...(await cluster.masters()).filter((m) => m.port !== to.port && m.port !== from.port)]) {
      await direct(node).call('CLUSTER', 'SETSLOT', slot, 'NODE', toId);
    }
    await cluster.waitSlotOwner(slot, to);
    expect(await mixedBatch(keys)).toEqual([3, 23, 33]);
    expect(await direct(to).get(keys.moving)).toBe('33');
    await cluster.waitHealthy();
  });
});

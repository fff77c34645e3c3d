import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisCluster, uniquePrefix, type RedisClusterHandle } from '@wecom-relay/testkit';
import { createRedisBackend } from '../../src/state/redis-backend.js';
import { copyBindings, openBindingStore } from '../../src/cli/binding-transfer.js';
import { REDIS_CLUSTER_KEY_LAYOUT, REDIS_KEY_LAYOUT } from '../../src/state/redis/index.js';
import type { StateBackend } from '../../src/state/state-backend.js';
import type { BusMessage } from '../../src/state/node-bus.js';
import type { AppendedRun } from '../../src/state/delivery-queue.js';
import { capturingLogger, waitFor } from './helpers.js';
import { BatchEnqueuer } from '../../src/delivery/enqueue-batch.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { inbound } from '../core/delivery-harness.js';
import { packedField, packedShard } from '../../src/state/redis/packed-keys.js';
import { PACKED_HASH_ENTRIES } from '../../src/state/redis/packed-tree.js';

// One Redis Cluster for the file; the last tests kill masters, so the order below matters.
let cluster: RedisClusterHandle;
const backends: StateBackend[] = [];
const plain: Redis[] = [];

const seeds = () => cluster.seeds.map((s) => ({ host: s.slice(0, s.lastIndexOf(':')), port: Number(s.slice(s.lastIndexOf(':') + 1)) }));

async function backend(nodeId: string, prefix: string, logger = capturingLogger().logger): Promise<StateBackend> {
  const b = await createRedisBackend({
    redis: { kind: 'cluster', nodes: seeds(), tls: false, password: undefined },
    bindings: 'redis',
    databasePath: ':memory:',
    logger,
    prefix,
    nodeId,
  });
  backends.push(b);
  return b;
}

function direct(node: { port: number }): Redis {
  const c = new Redis({ host: '127.0.0.1', port: node.port, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => undefined);
  plain.push(c);
  return c;
}

async function keysOn(node: { port: number }, match: string): Promise<number> {
  const c = direct(node);
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await c.scan(cursor, 'MATCH', match, 'COUNT', 1000);
    cursor = next;
    n += keys.length;
  } while (cursor !== '0');
  return n;
}

beforeAll(async () => {
  cluster = await startRedisCluster();
}, 60_000);

afterAll(async () => {
  for (const b of backends.splice(0)) await b.close();
  for (const c of plain.splice(0)) c.disconnect();
  await cluster?.stop();
});

describe('relay state on a Redis Cluster', () => {
  it('starts a backend from the seed list, live once its bus listens, with named connections on every master', async () => {
    const b = await backend('node-a', uniquePrefix('start'));
    await b.bus.subscribe('node-a', () => undefined);
    await waitFor(() => b.isLive(), 'the backend to be live');
    for (const master of await cluster.masters()) {
      const names = String(await direct(master).client('LIST'));
      expect(names).toContain('name=wecom-relay:node-a:commands');
    }
  });

  it('a wake-up travels only within the shard of the channel it names (sharded pub/sub)', async () => {
    const prefix = uniquePrefix('bus');
    const a = await backend('node-a', prefix);
    const b = await backend('node-b', prefix);
    const got: BusMessage[] = [];
    await b.bus.subscribe('node-b', (m) => void got.push(m));
    const channel = `${prefix}bus:node-b`;
    // Plain SUBSCRIBE on every master: a cluster-wide PUBLISH would reach each of them.
    const overheard: string[] = [];
    for (const master of await cluster.masters()) {
      const sub = direct(master);
      sub.on('message', (_c: string, m: string) => void overheard.push(m));
      await sub.subscribe(channel);
    }
    expect(await a.bus.publish('node-b', { kind: 'wake', gatewayId: 'gw-1', sentAt: 1 })).toBe(true);
    await waitFor(() => got.length === 1, 'the wake-up at node-b');
    expect(got[0]).toEqual({ kind: 'wake', gatewayId: 'gw-1', sentAt: 1 });
    // The one subscriber is on the master serving the channel's slot, and nobody else heard it.
    const owner = await cluster.masterOf(channel);
    const [, count] = (await direct(owner).call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number];
    expect(count).toBe(1);
    await new Promise((r) => setTimeout(r, 200));
    expect(overheard).toEqual([]);
  });

  it('spreads bindings over every shard, and still lists a gateway’s users from one read', async () => {
    const prefix = uniquePrefix('spread');
    const b = await backend('node-a', prefix);
    const users = Array.from({ length: 300 }, (_, i) => `wm-user-${i}`);
    await Promise.all(users.map((u) => b.bindings.bind(u, 'gw-big')));
    expect((await b.bindings.usersOf('gw-big')).sort()).toEqual([...users].sort());
    const perMaster = await Promise.all((await cluster.masters()).map((m) => keysOn(m, `${prefix}*binding*`)));
    expect(perMaster.reduce((x, y) => x + y, 0)).toBe(300);
    // No shard holds a disproportionate part: with 3 shards each holds well under 60 %.
    for (const n of perMaster) {
      expect(n).toBeGreaterThan(0);
      expect(n).toBeLessThan(180);
    }
  });

  it("a page's owner lookups read each owner node's liveness once, not once per gateway", async () => {
    const b = await backend('node-a', uniquePrefix('liveness'));
    await b.presence.heartbeat('node-a', 60_000);
    await b.presence.heartbeat('node-b', 60_000);
    const gateways = Array.from({ length: 60 }, (_, i) => `gw-live-${i}`);
    // Every third gateway's owner is a node that never beat: its gateways have no live owner.
    for (const [i, gatewayId] of gateways.entries()) await b.presence.claim(gatewayId, ['node-a', 'node-b', 'node-gone'][i % 3]!);
    const existsCalls = async () => {
      let n = 0;
      for (const master of await cluster.masters()) n += Number(/cmdstat_exists:calls=(\d+)/.exec(await direct(master).info('commandstats'))?.[1] ?? 0);
      return n;
    };
    const before = await existsCalls();
    const owners = await Promise.all(gateways.map((gatewayId) => b.presence.lookup(gatewayId)));
    const read = (await existsCalls()) - before;
    expect(owners.map((o) => o?.nodeId ?? null)).toEqual(gateways.map((_, i) => ['node-a', 'node-b', null][i % 3]));
    // Three owner nodes, their records answered by three masters: at most one read per node and master, where one per
    // gateway made 60 (the other backends' background work adds a few of its own).
    expect(read).toBeLessThan(20);
  });

  it("a page's appends read their gateways' owners in the same script: the owners are woken without a lookup", async () => {
    const prefix = uniquePrefix('append-owner');
    const a = await backend('node-a', prefix);
    const b = await backend('node-b', prefix);
    const woken: string[] = [];
    const runs = new Map<string, AppendedRun>();
    await b.bus.subscribe('node-b', (m: BusMessage) => {
      if (m.kind === 'wake') woken.push(m.gatewayId);
      if (m.kind === 'wake' && m.run) runs.set(m.gatewayId, m.run);
      if (m.kind === 'wake-many') woken.push(...m.gatewayIds);
      if (m.kind === 'wake-many') for (const [gatewayId, run] of Object.entries(m.runs ?? {})) runs.set(gatewayId, run);
    });
    await waitFor(() => b.isLive(), 'node-b to listen');
    await a.presence.heartbeat('node-a', 60_000);
    await a.presence.heartbeat('node-b', 60_000);
    const gateways = ['gw-own-1', 'gw-own-2', 'gw-own-3', 'gw-own-4'];
    for (const gatewayId of gateways) await a.presence.claim(gatewayId, 'node-b');
    let lookups = 0;
    const presence = { lookup: (gatewayId: string) => (lookups++, a.presence.lookup(gatewayId)) };
    const enqueuer = new BatchEnqueuer({
      nodeId: 'node-a',
      queue: a.queue,
      presence,
      bus: a.bus,
      delivery: { noteAppended: () => undefined, wakeLocal: () => undefined },
      metrics: createMetrics('node-a'),
    });
    const ids = await enqueuer.enqueue(new Map(gateways.map((g) => [g, [{ event: inbound(`m-${g}`) }]])));
    expect([...ids.values()].every((list) => list.length === 1 && list[0] !== null)).toBe(true);
    await waitFor(() => woken.length === gateways.length, 'node-b to be woken for every gateway');
    expect(woken.sort()).toEqual(gateways);
    expect(lookups).toBe(0);
    // Each wake-up carries what was appended, after the empty queue; a second append follows the first item.
    for (const gatewayId of gateways) expect(runs.get(gatewayId)).toEqual({ after: null, items: await a.queue.readAfter(gatewayId, null, 10) });
    const [first] = await a.queue.readAfter('gw-own-1', null, 1);
    await enqueuer.enqueue(new Map([['gw-own-1', [{ event: inbound('m-again') }]]]));
    await waitFor(() => woken.length === gateways.length + 1, 'node-b to be woken again');
    expect(runs.get('gw-own-1')).toEqual({ after: first!.id, items: await a.queue.readAfter('gw-own-1', first!.id, 10) });
  });

  it("an append's run follows the queue's real last item, where another node appended after this node's last one", async () => {
    const prefix = uniquePrefix('append-tail');
    const a = await backend('node-a', prefix);
    const b = await backend('node-b', prefix);
    const append = async (node: StateBackend, id: string) => (await node.queue.appendReadingOwner!('gw-t', [{ event: inbound(id) }])).run!;
    expect((await append(a, 'm-1')).after).toBeNull();
    // node-b never appended here: it reads the queue's last item.
    const m1 = (await a.queue.readAfter('gw-t', null, 1))[0]!.id;
    expect((await append(b, 'm-2')).after).toBe(m1);
    const m2 = (await b.queue.readAfter('gw-t', m1, 1))[0]!.id;
    // node-a last appended m-1, but m-2 follows it now.
    const run = await append(a, 'm-3');
    expect(run.after).toBe(m2);
    // Its own append known again, the next one follows it.
    const fourth = await append(a, 'm-4');
    expect(fourth.after).toBe(run.items[0]!.id);
    const m4 = fourth.items[0]!.id;
    expect((await a.queue.readAfter('gw-t', null, 10)).map((i) => (i.event as { id: string }).id)).toEqual(['m-1', 'm-2', 'm-3', 'm-4']);
    // Acknowledged items are deleted: the run still follows this node's last id, past the queue's end, as safe for a
    // drain (a pointer before it reads the queue) and read with nothing to copy.
    await a.queue.ack('gw-t', m4);
    expect(await a.queue.readAfter('gw-t', null, 10)).toEqual([]);
    expect((await append(a, 'm-5')).after).toBe(m4);
  });

  it('writes only keys of REDIS_KEY_LAYOUT, with bindings as REDIS_CLUSTER_KEY_LAYOUT says', async () => {
    const prefix = uniquePrefix('layout');
    const b = await backend('node-a', prefix);
    await b.bindings.bind('wm-alice', 'gw-1');
    await b.bindings.bind('wm-alice', 'gw-2');
    await b.bindings.bind('wm-bob', 'gw-1');
    await b.presence.heartbeat('node-a', 60_000);
    await b.presence.claim('gw-1', 'node-a');
    await b.queue.append('gw-1', { type: 'text' } as never, { dedupKey: 'm-1' });
    const keys: string[] = [];
    for (const m of await cluster.masters()) {
      let cursor = '0';
      do {
        const [next, batch] = await direct(m).scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        keys.push(...batch.map((k) => k.slice(prefix.length)));
      } while (cursor !== '0');
    }
    const toRe = (p: string) => new RegExp('^' + p.slice(1).replace(/[{}]/g, '\\$&').replace(/<[A-Za-z]+>/g, '[^{}]+') + '$');
    const spread = Object.values(REDIS_CLUSTER_KEY_LAYOUT).map(toRe);
    const all = [...Object.values(REDIS_KEY_LAYOUT).filter((p) => !p.startsWith('P{bindings}')).map(toRe), ...spread];
    expect(keys.filter((k) => !all.some((re) => re.test(k)))).toEqual([]);
    for (const re of spread) expect(keys.some((k) => re.test(k))).toBe(true);
    expect(keys.some((k) => k.startsWith('{bindings}'))).toBe(false);
  });

  it("a busy minute's routing decisions grow below their hash in its slot, and every node finds each of them", async () => {
    const prefix = uniquePrefix('busy');
    const a = await backend('node-a', prefix);
    const b = await backend('node-b', prefix);
    const at = 1_700_000_000;
    const fourDays = 4 * 24 * 3600_000;
    // Three times what one hash takes, all in one minute's shard: two levels below it get used.
    const keys: string[] = [];
    for (let i = 0; keys.length < 3 * PACKED_HASH_ENTRIES; i++) if (packedShard(packedField(`r:m-${i}`)) === 3) keys.push(`r:m-${i}`);
    const half = keys.length / 2;
    expect(await a.dedup.decideMany(keys.slice(0, half).map((key) => ({ key, value: '>gw-a', placement: { at } })), fourDays)).toEqual(keys.slice(0, half).map(() => '>gw-a'));
    for (const key of keys.slice(half)) expect(await a.dedup.decide(key, '>gw-a', fourDays, { at })).toBe('>gw-a');
    // Another node, a page at once and one at a time, finds every decision.
    expect(await b.dedup.decideMany(keys.map((key) => ({ key, value: '>gw-b', placement: { at } })), fourDays)).toEqual(keys.map(() => '>gw-a'));
    for (const key of [keys[0]!, keys[half]!, keys.at(-1)!]) expect(await b.dedup.recall(key, { at })).toBe('>gw-a');
    const root = `${prefix}dp:${Math.floor(at / 60)}:3`;
    const owner = await cluster.masterOf(root);
    expect(await keysOn(owner, `${prefix}{${root}}:*`)).toBeGreaterThan(1);
    expect(await direct(owner).hlen(root)).toBe(PACKED_HASH_ENTRIES);
  });

  it('a decision kept below its hash is never made again while its slot migrates: refused until the slot has moved', async () => {
    const prefix = uniquePrefix('migrating');
    const a = await backend('node-a', prefix);
    const b = await backend('node-b', prefix);
    const at = 1_700_000_000;
    const fourDays = 4 * 24 * 3600_000;
    const keys: string[] = [];
    for (let i = 0; keys.length < 2 * PACKED_HASH_ENTRIES; i++) if (packedShard(packedField(`r:m-${i}`)) === 5) keys.push(`r:m-${i}`);
    await a.dedup.decideMany(keys.map((key) => ({ key, value: '>gw-a', placement: { at } })), fourDays);
    const root = `${prefix}dp:${Math.floor(at / 60)}:5`;
    const below = (key: string) => `${prefix}{${root}}:${packedField(key)[0]! % 8}`;
    // The last key went below the full root; its hash alone moves to the importing node, the root stays.
    const moved = keys.at(-1)!;
    const from = await cluster.masterOf(root);
    expect(await direct(from).hexists(below(moved), packedField(moved))).toBe(1);
    const to = (await cluster.masters()).find((m) => m.port !== from.port)!;
    const slot = await cluster.slotOf(root);
    const [fromId, toId] = [String(await direct(from).call('CLUSTER', 'MYID')), String(await direct(to).call('CLUSTER', 'MYID'))];
    try {
      await direct(to).call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', fromId);
      await direct(from).call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', toId);
      await direct(from).call('MIGRATE', to.host, to.port, below(moved), 0, 5_000);

      await expect(b.dedup.decideMany([{ key: moved, value: '>gw-b', placement: { at } }], fourDays)).rejects.toThrow(/non local key/);
    } finally {
      // The rest of the slot follows, and every node learns its new owner.
      await cluster.moveSlot(slot, to);
    }
    expect(await b.dedup.decideMany([{ key: moved, value: '>gw-b', placement: { at } }], fourDays)).toEqual(['>gw-a']);
    expect(await b.dedup.recall(keys[0]!, { at })).toBe('>gw-a');
    await cluster.waitHealthy();
  });

  it('copies bindings from a single-node database into the cluster with the operator tool', async () => {
    const prefix = uniquePrefix('copy');
    const dir = mkdtempSync(join(tmpdir(), 'relay-copy-'));
    const from = await openBindingStore(`sqlite:${join(dir, 'relay.db')}`);
    try {
      await from.store.bind('wm-alice', 'gw-1');
      await from.store.bind('wm-bob', 'gw-2');
      const to = await openBindingStore(`redis-cluster://${cluster.seeds.join(',')}`, prefix);
      try {
        expect(await copyBindings(from.store, to.store)).toBe(2);
      } finally {
        await to.close();
      }
      const b = await backend('node-a', prefix);
      expect(await b.bindings.gatewayFor('wm-alice')).toBe('gw-1');
      expect(await b.bindings.usersOf('gw-2')).toEqual(['wm-bob']);
    } finally {
      await from.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('moves the sync cursor past a page only once the page’s appends are on a replica', { timeout: 60_000 }, async () => {
    const prefix = uniquePrefix('wait');
    const b = await backend('node-a', prefix);
    const lease = (await b.sync.tryAcquire('kf-w', 60_000))!;
    // The starting point: on a loaded machine a replica may take longer than the 1 s WAIT (the commit is then refused,
    // as it should be), so the first commit may take tries.
    await waitFor(async () => (await lease.commitCursor('c1').catch(() => false)) === true, 'a first commit', 30_000);
    const master = await cluster.masterOf(`${prefix}{gw:gw-w}:queue`);
    const [replica] = await cluster.replicasOf(master);
    // A replica that stops acknowledging (stopped, not dead: the master still counts it as connected).
    process.kill(replica!.pid!, 'SIGSTOP');
    try {
      await b.queue.append('gw-w', { type: 'text', n: 1 } as never, { dedupKey: 'm-w1' });
      await expect(lease.commitCursor('c2')).rejects.toMatchObject({ code: 'STATE_NOT_REPLICATED' });
      expect(await lease.cursor()).toBe('c1');
    } finally {
      process.kill(replica!.pid!, 'SIGCONT');
    }
    await waitFor(async () => (await lease.commitCursor('c2').catch(() => false)) === true, 'the commit once the replica caught up', 30_000);
    expect(await lease.cursor()).toBe('c2');
    await cluster.waitHealthy();
  });

  it('keeps every script working after a master is SIGKILLed and its replica promoted (MOVED, NOSCRIPT)', { timeout: 60_000 }, async () => {
    const prefix = uniquePrefix('failover');
    const b = await backend('node-a', prefix);
    await b.presence.heartbeat('node-a', 60_000);
    const first = await b.presence.claim('gw-f', 'node-a');
    const id1 = await b.queue.append('gw-f', { type: 'test', n: 1 } as never, { dedupKey: 'm1', dedupTtlMs: 60_000 });
    // The promoted replica has the data (WAIT) but not the script cache, so the next EVALSHA meets NOSCRIPT.
    await direct(await cluster.masterOf(`${prefix}{gw:gw-f}:owner`)).wait(1, 5_000);
    const master = await cluster.masterOf(`${prefix}{gw:gw-f}:owner`);
    // A node whose bus channel lives on that master too: its subscription must move to the promoted replica.
    let listener = '';
    for (let i = 0; listener === ''; i += 1) {
      if ((await cluster.masterOf(`${prefix}bus:node-${i}`)).port === master.port) listener = `node-${i}`;
    }
    const other = await backend(listener, prefix);
    const got: BusMessage[] = [];
    await other.bus.subscribe(listener, (m) => void got.push(m));
    await waitFor(() => other.isLive(), 'the listener to be live');
    await master.kill();
    await cluster.waitHealthy();
    await waitFor(async () => (await b.presence.lookup('gw-f').catch(() => null)) !== null, 'the owner through the promoted replica', 30_000);
    const second = await b.presence.claim('gw-f', 'node-a');
    expect(second.generation).toBe(first.generation + 1);
    expect(await b.queue.append('gw-f', { type: 'test', n: 1 } as never, { dedupKey: 'm1', dedupTtlMs: 60_000 })).toBeNull();
    await b.queue.ack('gw-f', id1 as string);
    expect(await b.queue.lastAcked('gw-f')).toBe(id1);
    await waitFor(() => other.isLive(), 'the listener to be live again', 30_000);
    await waitFor(async () => (await b.bus.publish(listener, { kind: 'wake', gatewayId: 'gw-f', sentAt: 2 })) && got.length > 0, 'a wake-up through the promoted replica', 30_000);
    expect(got[0]).toEqual({ kind: 'wake', gatewayId: 'gw-f', sentAt: 2 });
  });

  it('refuses to start on a cluster that is not cluster_state:ok', { timeout: 60_000 }, async () => {
    // Kill a master and then the replica promoted in its place: that shard's slots have nobody left.
    const key = 'any-key';
    await (await cluster.masterOf(key)).kill();
    await cluster.waitHealthy();
    await (await cluster.masterOf(key)).kill();
    const live = cluster.nodes.find((n) => n.pid !== null)!;
    await waitFor(async () => /cluster_state:fail/.test(String(await direct(live).cluster('INFO'))), 'the cluster to report fail', 30_000);
    await expect(backend('node-z', uniquePrefix('down'))).rejects.toMatchObject({
      code: 'REDIS_UNSUITABLE',
      message: expect.stringMatching(/cluster_state:fail/),
    });
  });
});

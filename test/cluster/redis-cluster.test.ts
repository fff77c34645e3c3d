import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayClient } from '@wecom-relay/gateway-client';
import { startCluster, type ClusterStack } from './cluster-stack.js';

/** Waits until check stops throwing (for state the cluster reaches asynchronously). */
async function eventually<T>(check: () => T | Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await sleep(100);
  }
}

// The key scenarios of cluster.test.ts, with the three nodes on a Redis Cluster (3 masters + 3 replicas).
describe('three relay nodes on a Redis Cluster behind haproxy', () => {
  let c: ClusterStack;
  let redis: Cluster;
  const text = (user: string, content: string, deliver = true) =>
    c.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content, deliver });

  async function settle(gateway: GatewayClient, user: string): Promise<void> {
    const marker = await text(user, `marker-${Date.now()}`);
    await c.fake.control.callback({ concurrent: true });
    await gateway.waitForInbound((m) => m.id === marker.msgid, 15_000);
  }

  beforeAll(async () => {
    c = await startCluster({ nodes: 3, redisCluster: true });
    redis = new Cluster(c.redisCluster!.seeds.map((s) => ({ host: s.split(':')[0]!, port: Number(s.split(':')[1]) })));
    redis.on('error', () => undefined);
  }, 180_000);

  afterAll(async () => {
    redis?.disconnect();
    await c?.stop();
  }, 60_000);

  it('delivers once to a gateway on node A a message whose callback landed on node B', async () => {
    const [a, b] = [c.nodes[0]!, c.nodes[1]!];
    const gw = await c.gateway(a.wsUrl, 'gw-ab');
    await c.bind(gw, 'user-ab', b);
    const sent = await text('user-ab', 'hello across nodes', false);
    await c.fake.control.callback({ urls: [b.webhookUrl] });
    const got = await gw.waitForInbound((m) => m.id === sent.msgid, 15_000);
    expect(got.content).toBe('hello across nodes');
    await settle(gw, 'user-ab');
    expect(gw.inbound().filter((m) => m.id === sent.msgid)).toHaveLength(1);
    // The binding is in the cluster, under the user's own slot.
    expect(await redis.hget(`${c.keyPrefix}{user:user-ab}:binding`, 'gw')).toBe('gw-ab');
  });

  it('sends the next message to node C once the gateway moved there from node A', async () => {
    const [a, cNode] = [c.nodes[0]!, c.nodes[2]!];
    const first = await c.gateway(a.wsUrl, 'gw-move');
    await c.bind(first, 'user-move');
    await first.close();
    const moved = await c.gateway(cNode.wsUrl, 'gw-move');
    const sent = await text('user-move', 'after the move');
    const got = await moved.waitForInbound((m) => m.id === sent.msgid, 15_000);
    expect(got.content).toBe('after the move');
    expect(first.inbound().some((m) => m.id === sent.msgid)).toBe(false);
  });

  it('delivers 2 × 90 messages from 9 users to 3 gateways exactly once, in per-user order, with callbacks on every node at once', async () => {
    const gateways: GatewayClient[] = [];
    for (let g = 0; g < 3; g++) gateways.push(await c.gateway(c.nodes[g]!.wsUrl, `gw-load-${g}`));
    const users = Array.from({ length: 9 }, (_, u) => `load-user-${u}`);
    for (const [u, user] of users.entries()) await c.bind(gateways[u % 3]!, user);

    const expected = new Map<string, { user: string; order: number }>();
    for (let round = 0; round < 2; round++) {
      for (let seq = 0; seq < 90; seq++) {
        const user = users[seq % 9]!;
        const { msgid } = await text(user, `round ${round} seq ${seq}`, false);
        expected.set(msgid, { user, order: round * 1000 + seq });
      }
      const results = await c.fake.control.callback({ concurrent: true });
      expect(results).toHaveLength(3);
    }
    const isLoad = (id: string) => expected.has(id);
    await eventually(() => {
      const total = gateways.reduce((n, g) => n + g.inbound().filter((m) => isLoad(m.id)).length, 0);
      expect(total).toBeGreaterThanOrEqual(180);
    }, 60_000);
    for (const [g, gw] of gateways.entries()) await settle(gw, users[g]!);

    const seen = new Map<string, number>();
    for (const [g, gw] of gateways.entries()) {
      const lastByUser = new Map<string, number>();
      for (const m of gw.inbound().filter((x) => isLoad(x.id))) {
        const e = expected.get(m.id)!;
        seen.set(m.id, (seen.get(m.id) ?? 0) + 1);
        expect(users.indexOf(e.user) % 3, `message for ${e.user} reached gw-load-${g}`).toBe(g);
        expect(e.order, `per-user order for ${e.user}`).toBeGreaterThan(lastByUser.get(e.user) ?? -1);
        lastByUser.set(e.user, e.order);
      }
    }
    expect(seen.size).toBe(180);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    // Every node holds named connections to every master of the cluster.
    for (const master of await c.redisCluster!.masters()) {
      const list = String(await redis.nodes('master').find((n) => n.options.port === master.port)!.client('LIST'));
      for (let i = 0; i < 3; i++) expect(list).toContain(`name=wecom-relay:node-${i}:commands`);
    }
  }, 120_000);

  it('delivers exactly once and in order while the slots of its kf account, gateways and users move to other masters', async () => {
    const gateways: GatewayClient[] = [];
    for (let g = 0; g < 3; g++) gateways.push(await c.gateway(c.nodes[g]!.wsUrl, `gw-rs-${g}`, { delivery: 'ack' }));
    const users = Array.from({ length: 9 }, (_, u) => `rs-user-${u}`);
    for (const [u, user] of users.entries()) await c.bind(gateways[u % 3]!, user);
    const keys = [
      `${c.keyPrefix}{kf:${c.corp.openKfid}}:cursor`,
      ...gateways.map((_, g) => `${c.keyPrefix}{gw:gw-rs-${g}}:queue`),
      ...users.map((u) => `${c.keyPrefix}{user:${u}}:binding`),
    ];
    const slots = [...new Set(await Promise.all(keys.map((k) => c.redisCluster!.slotOf(k))))];
    const before = await Promise.all(keys.map((k) => c.redisCluster!.masterOf(k)));

    // Each slot moves while a pull is in flight: messages written, callbacks sent, the slot migrated, then the next.
    const expected = new Map<string, { user: string; order: number }>();
    let keysMoved = 0;
    let seq = 0;
    for (const slot of slots) {
      for (let i = 0; i < 10; i++, seq++) {
        const user = users[seq % 9]!;
        const { msgid } = await text(user, `reshard ${seq}`, false);
        expected.set(msgid, { user, order: seq });
      }
      const callbacks = c.fake.control.callback({ concurrent: true }).catch(() => undefined);
      const masters = await c.redisCluster!.masters();
      const owner = await c.redisCluster!.masterOf(keys[(await Promise.all(keys.map((k) => c.redisCluster!.slotOf(k)))).indexOf(slot)]!);
      const target = masters[(masters.findIndex((m) => m.port === owner.port) + 1) % masters.length]!;
      keysMoved += await c.redisCluster!.moveSlot(slot, target);
      await callbacks;
    }
    const isLoad = (id: string) => expected.has(id);
    await eventually(async () => {
      const total = gateways.reduce((n, g) => n + g.inbound().filter((m) => isLoad(m.id)).length, 0);
      if (total < expected.size) {
        await c.fake.control.callback({ concurrent: true }).catch(() => undefined);
        throw new Error(`${total} of ${expected.size} delivered`);
      }
    }, 60_000);
    for (const [g, gw] of gateways.entries()) await settle(gw, users[g]!);

    let duplicates = 0;
    let outOfOrder = 0;
    const seen = new Set<string>();
    for (const gw of gateways) {
      const lastByUser = new Map<string, number>();
      for (const m of gw.inbound().filter((x) => isLoad(x.id))) {
        if (seen.has(m.id)) duplicates += 1;
        seen.add(m.id);
        const e = expected.get(m.id)!;
        if (e.order <= (lastByUser.get(e.user) ?? -1)) outOfOrder += 1;
        lastByUser.set(e.user, e.order);
      }
    }
    const lost = expected.size - seen.size;
    const after = await Promise.all(keys.map((k) => c.redisCluster!.masterOf(k)));
    console.log(`[cluster] ${slots.length} slots moved (${keysMoved} keys) under ${expected.size} messages: lost ${lost}, duplicates ${duplicates}, out of order ${outOfOrder}`);
    expect(after.every((m, i) => m.port !== before[i]!.port), 'every slot is served by another master now').toBe(true);
    expect(keysMoved).toBeGreaterThan(slots.length);
    expect({ lost, duplicates, outOfOrder }).toEqual({ lost: 0, duplicates: 0, outOfOrder: 0 });
    // The client follows MOVED and ASK itself: none may reach the relay's code as a failed command.
    const redirects = c.nodes.flatMap((n) => n.logs.filter((l) => /MOVED \d+|ASK \d+/.test(l)));
    expect(redirects.map((l) => l.slice(0, 300))).toEqual([]);
    await c.redisCluster!.waitHealthy();
  }, 120_000);

  it('spreads the state of those runs over many hash slots, none holding a disproportionate part', async () => {
    const masters = await c.redisCluster!.masters();
    const perMaster: number[] = [];
    const perSlot = new Map<number, number>();
    for (const m of masters) {
      const node = redis.nodes('master').find((n) => n.options.port === m.port)!;
      const keys: string[] = [];
      let cursor = '0';
      do {
        const [next, batch] = await node.scan(cursor, 'MATCH', `${c.keyPrefix}*`, 'COUNT', 1000);
        cursor = next;
        keys.push(...batch);
      } while (cursor !== '0');
      perMaster.push(keys.length);
      const slots = await Promise.all(keys.map((k) => node.call('CLUSTER', 'KEYSLOT', k) as Promise<number>));
      for (const slot of slots) perSlot.set(slot, (perSlot.get(slot) ?? 0) + 1);
    }
    const total = perMaster.reduce((a, b) => a + b, 0);
    const largest = Math.max(...perSlot.values());
    console.log(
      `[cluster] keys per master after the runs: ${perMaster.map((n, i) => `:${masters[i]!.port} ${n}`).join(', ')}; ` +
        `${total} keys in ${perSlot.size} slots, the largest slot holds ${largest}`,
    );
    // A slot is what resharding moves: state piled under one hash tag could never be divided over shards. Here the
    // largest slot is one gateway's queue and its per-message dedup marks (a third of the load run's messages).
    expect(total).toBeGreaterThan(100);
    expect(largest / total).toBeLessThanOrEqual(0.2);
    expect(perMaster.every((n) => n > 0)).toBe(true);
  });
});

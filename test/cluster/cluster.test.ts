import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
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

/** Reconnects a gateway whose socket dropped, retrying while the balancer still points at a dead node. */
async function reconnect(client: GatewayClient, timeoutMs: number): Promise<void> {
  await eventually(() => client.connect(), timeoutMs);
}

describe('a cluster of three relay nodes on Redis behind haproxy', () => {
  let c: ClusterStack;
  const text = (user: string, content: string, deliver = true) =>
    c.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content, deliver });

  /** Sends a marker after `user`'s earlier messages and waits for it: anything duplicated earlier has arrived by then. */
  async function settle(gateway: GatewayClient, user: string): Promise<void> {
    const marker = await text(user, `marker-${Date.now()}`);
    await c.fake.control.callback({ concurrent: true });
    await gateway.waitForInbound((m) => m.id === marker.msgid, 15_000);
  }

  beforeAll(async () => {
    c = await startCluster({ nodes: 3, redisAppendOnly: true });
  }, 180_000);

  afterAll(async () => {
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
  });

  it('tells a gateway on node A of a binding whose scan was handled on node C, and confirms to the user', async () => {
    const [a, cNode] = [c.nodes[0]!, c.nodes[2]!];
    const gw = await c.gateway(a.wsUrl, 'gw-ac');
    await c.bind(gw, 'user-ac', cNode);
    const confirmations = await eventually(async () => {
      const sent = await c.fake.control.sent({ touser: 'user-ac' });
      expect(sent.length).toBeGreaterThan(0);
      return sent;
    }, 10_000);
    expect(confirmations[0]!.content).toContain('connected');
  });

  it('serves a gateway through the balancer, with WeCom calling the balancer too', async () => {
    const gw = await c.gateway(c.lb.wsUrl, 'gw-lb');
    await c.bind(gw, 'user-lb');
    const sent = await text('user-lb', 'via haproxy', false);
    const results = await c.fake.control.callback({ urls: [`${c.lb.httpUrl}/webhook`], times: 3 });
    expect(results.every((r) => r.status === 200)).toBe(true);
    await gw.waitForInbound((m) => m.id === sent.msgid, 15_000);
    const reply = await gw.reply('user-lb', 'answer via haproxy');
    expect(reply.type).toBe('ack');
    await eventually(async () => {
      const sentToUser = await c.fake.control.sent({ touser: 'user-lb' });
      expect(sentToUser.some((m) => m.content === 'answer via haproxy')).toBe(true);
    }, 10_000);
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

  it('keeps one live connection when the same gateway id connects to two nodes, and delivers once', async () => {
    const [a, b] = [c.nodes[0]!, c.nodes[1]!];
    const older = await c.gateway(a.wsUrl, 'gw-twice');
    await c.bind(older, 'user-twice');
    const newer = await c.gateway(b.wsUrl, 'gw-twice');
    const closed = await older.closed;
    expect(closed.code).toBe(4004);
    const sent = await text('user-twice', 'which socket?');
    await newer.waitForInbound((m) => m.id === sent.msgid, 15_000);
    await settle(newer, 'user-twice');
    expect(newer.inbound().filter((m) => m.id === sent.msgid)).toHaveLength(1);
    expect(older.inbound().some((m) => m.id === sent.msgid)).toBe(false);
  });

  it('delivers 3 × 200 messages from 20 users to 5 gateways exactly once, in per-user order, with callbacks on every node at once', async () => {
    const gateways: GatewayClient[] = [];
    for (let g = 0; g < 5; g++) gateways.push(await c.gateway(c.nodes[g % 3]!.wsUrl, `gw-load-${g}`));
    const users = Array.from({ length: 20 }, (_, u) => `load-user-${u}`);
    for (const [u, user] of users.entries()) await c.bind(gateways[u % 5]!, user);

    // Watch the stored sync cursor the whole time: it must never move back.
    const watcher = new Redis(c.redis.url);
    const cursorKey = `${c.keyPrefix}{kf:${c.corp.openKfid}}:cursor`;
    const positions: number[] = [];
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const cursor = await watcher.hget(cursorKey, 'value');
        if (cursor) positions.push(Number.parseInt(cursor.slice(0, -12), 36));
        await sleep(10);
      }
    })();

    const expected = new Map<string, { user: string; round: number; seq: number }>();
    for (let round = 0; round < 3; round++) {
      for (let seq = 0; seq < 200; seq++) {
        const user = users[seq % 20]!;
        const { msgid } = await text(user, `round ${round} seq ${seq}`, false);
        expected.set(msgid, { user, round, seq });
      }
      const results = await c.fake.control.callback({ concurrent: true });
      expect(results).toHaveLength(3);
    }
    const isLoad = (id: string) => expected.has(id);
    await eventually(() => {
      const total = gateways.reduce((n, g) => n + g.inbound().filter((m) => isLoad(m.id)).length, 0);
      expect(total).toBeGreaterThanOrEqual(600);
    }, 60_000);
    for (const [g, gw] of gateways.entries()) await settle(gw, users[g]!);
    watching = false;
    await watch;
    await watcher.quit();

    const seen = new Map<string, number>();
    for (const [g, gw] of gateways.entries()) {
      const lastByUser = new Map<string, number>();
      for (const m of gw.inbound().filter((x) => isLoad(x.id))) {
        const e = expected.get(m.id)!;
        seen.set(m.id, (seen.get(m.id) ?? 0) + 1);
        expect(users.indexOf(e.user) % 5, `message for ${e.user} reached gw-load-${g}`).toBe(g);
        const order = e.round * 1000 + e.seq;
        expect(order, `per-user order for ${e.user}`).toBeGreaterThan(lastByUser.get(e.user) ?? -1);
        lastByUser.set(e.user, order);
      }
    }
    expect(seen.size).toBe(600);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(positions.length).toBeGreaterThan(0);
    for (let i = 1; i < positions.length; i++) expect(positions[i]!).toBeGreaterThanOrEqual(positions[i - 1]!);
  }, 180_000);

  it('reconnects the gateways of a node killed with SIGKILL to the others, reachable within 15 s', async () => {
    const victim = c.nodes[1]!;
    const gateways: GatewayClient[] = [];
    for (let g = 0; g < 6; g++) {
      const gw = await c.gateway(c.lb.wsUrl, `gw-kill-${g}`);
      await c.bind(gw, `kill-user-${g}`);
      gateways.push(gw);
    }
    const health = (await (await fetch(`${victim.httpUrl}/healthz`)).json()) as { gateways: number };
    expect(health.gateways, 'the balancer put some gateways on the victim').toBeGreaterThan(0);
    const killedAt = Date.now();
    victim.kill('SIGKILL');
    await victim.waitExit();
    // Each gateway whose socket drops reconnects through the balancer and must be reachable again.
    const outcomes = await Promise.all(
      gateways.map(async (gw, g) => {
        const dropped = await Promise.race([gw.closed.then(() => true), sleep(5_000).then(() => false)]);
        if (dropped) await reconnect(gw, 15_000);
        const sent = await text(`kill-user-${g}`, `after the kill ${g}`);
        await gw.waitForInbound((m) => m.id === sent.msgid, 15_000);
        return { dropped, servedAfterMs: Date.now() - killedAt };
      }),
    );
    const victims = outcomes.filter((o) => o.dropped);
    expect(victims.length).toBeGreaterThan(0);
    console.log(
      `[cluster] ${victims.length} gateways of the killed node reconnected and were served again ` +
        `${Math.max(...victims.map((o) => o.servedAfterMs))} ms after SIGKILL`,
    );
    await c.restartNode(1);
  }, 90_000);

  it('resumes delivery after Redis is stopped and restarted, without restarting any node', async () => {
    const gw = await c.gateway(c.nodes[0]!.wsUrl, 'gw-redis');
    await c.bind(gw, 'user-redis');
    await c.redis.restart();
    const restartedAt = Date.now();
    // WeCom retries callbacks that were not answered 200; the test plays that by calling again until one is.
    const sent = await text('user-redis', 'after redis came back', false);
    await eventually(async () => {
      const results = await c.fake.control.callback({});
      expect(results.some((r) => r.status === 200)).toBe(true);
    }, 10_000);
    await gw.waitForInbound((m) => m.id === sent.msgid, 10_000);
    console.log(`[cluster] delivery resumed ${Date.now() - restartedAt} ms after Redis restarted`);
    await eventually(async () => {
      for (const node of c.nodes) expect((await fetch(`${node.httpUrl}/readyz`)).status).toBe(200);
    }, 10_000);
  }, 60_000);
});

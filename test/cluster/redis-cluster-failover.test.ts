import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayClient } from '@wecom-relay/gateway-client';
import { startCluster, type ClusterStack } from './cluster-stack.js';

async function eventually<T>(check: () => T | Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await sleep(200);
  }
}

// A Redis Cluster master SIGKILLed in the middle of a burst, its replica promoted: what the gateways saw.
describe('three relay nodes on a Redis Cluster whose master dies mid-burst', () => {
  let c: ClusterStack;

  beforeAll(async () => {
    c = await startCluster({ nodes: 3, redisCluster: true });
  }, 180_000);

  afterAll(async () => {
    await c?.stop();
  }, 60_000);

  it('loses nothing, duplicates nothing and keeps per-user order for ack-mode gateways', { timeout: 180_000 }, async () => {
    // The master holding the kf account's cursor and lease: the state a failover could rewind. One gateway's queue
    // lives on it too, so appends and deliveries are in flight on the master when it dies.
    const cursorKey = `${c.keyPrefix}{kf:${c.corp.openKfid}}:cursor`;
    const victim = await c.redisCluster!.masterOf(cursorKey);
    const onVictim: string[] = [];
    const elsewhere: string[] = [];
    for (let n = 0; onVictim.length < 1 || elsewhere.length < 2; n++) {
      const id = `gw-fo-${n}`;
      const sameShard = (await c.redisCluster!.masterOf(`${c.keyPrefix}{gw:${id}}:queue`)).port === victim.port;
      if (sameShard && onVictim.length < 1) onVictim.push(id);
      else if (!sameShard && elsewhere.length < 2) elsewhere.push(id);
    }
    const ids = [...onVictim, ...elsewhere];
    const gateways: GatewayClient[] = [];
    for (const [g, id] of ids.entries()) gateways.push(await c.gateway(c.nodes[g]!.wsUrl, id, { delivery: 'ack' }));
    const users = Array.from({ length: 9 }, (_, u) => `fo-user-${u}`);
    for (const [u, user] of users.entries()) await c.bind(gateways[u % 3]!, user);

    const expected = new Map<string, { user: string; order: number }>();
    const rounds = 4;
    let deliveredBeforeKill = -1;
    for (let round = 0; round < rounds; round++) {
      const thisRound = new Set<string>();
      for (let seq = 0; seq < 90; seq++) {
        const user = users[seq % 9]!;
        const { msgid } = await c.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: `r${round} s${seq}`, deliver: false });
        expected.set(msgid, { user, order: round * 1000 + seq });
        thisRound.add(msgid);
      }
      const callbacks = c.fake.control.callback({ concurrent: true });
      if (round === 1) {
        // Mid-burst: once the first message of this round reached a gateway, the page is being appended and delivered.
        await eventually(() => {
          if (!gateways.some((g) => g.inbound().some((m) => thisRound.has(m.id)))) throw new Error('round 1 not delivering yet');
        }, 30_000);
        await victim.kill();
        deliveredBeforeKill = gateways.reduce((n, g) => n + g.inbound().filter((m) => thisRound.has(m.id)).length, 0);
      }
      await callbacks.catch(() => undefined);
    }
    await c.redisCluster!.waitHealthy();
    expect((await c.redisCluster!.masterOf(cursorKey)).port).not.toBe(victim.port);
    const isBurst = (id: string) => expected.has(id);
    // Callbacks refused during the failover are sent again, as WeCom would.
    await eventually(async () => {
      const total = gateways.reduce((n, g) => n + g.inbound().filter((m) => isBurst(m.id)).length, 0);
      if (total < expected.size) {
        await c.fake.control.callback({ concurrent: true }).catch(() => undefined);
        throw new Error(`${total} of ${expected.size} delivered`);
      }
    }, 90_000);

    // inbound() already leaves out redeliveries of a delivery_id the gateway saw; a message appended again after the
    // failover (a new delivery_id for the same msgid) would count here as a duplicate.
    let duplicates = 0;
    let outOfOrder = 0;
    const seen = new Set<string>();
    for (const gw of gateways) {
      const lastByUser = new Map<string, number>();
      for (const m of gw.inbound().filter((x) => isBurst(x.id))) {
        if (seen.has(m.id)) duplicates += 1;
        seen.add(m.id);
        const e = expected.get(m.id)!;
        if (e.order <= (lastByUser.get(e.user) ?? -1)) outOfOrder += 1;
        lastByUser.set(e.user, e.order);
      }
    }
    const lost = [...expected.keys()].filter((id) => !seen.has(id)).length;
    console.log(
      `[failover] ${expected.size} messages, master :${victim.port} (kf cursor and ${onVictim[0]}'s queue) killed with ` +
        `${deliveredBeforeKill} of round 1's 90 delivered: lost ${lost}, duplicates ${duplicates}, out of order ${outOfOrder}`,
    );
    expect(deliveredBeforeKill, 'the master died mid-burst').toBeGreaterThan(0);
    expect({ lost, duplicates, outOfOrder }).toEqual({ lost: 0, duplicates: 0, outOfOrder: 0 });
  });
});

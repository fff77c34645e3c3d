import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseType, resolvedUser, type GatewayClient } from '@wecom-relay/gateway-client';
import { startCluster, type ClusterStack } from './cluster-stack.js';

/** The second kf account; the corp's own is the first. */
const KF_B = 'wkClusterSecondAccount';
const PER_USER = 15;

/** Prometheus text → the sum of one metric's samples whose labels include all of `labels`. */
function total(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.split(' ').pop());
  }
  return sum;
}

for (const onRedisCluster of [false, true]) {
  describe(`two kf accounts on three relay nodes (${onRedisCluster ? 'Redis Cluster' : 'one Redis'})`, () => {
    let c: ClusterStack;
    let redis: Redis | Cluster;
    let kfA: string;

    beforeAll(async () => {
      c = await startCluster({ nodes: 3, redisCluster: onRedisCluster, moreOpenKfids: [KF_B] });
      kfA = c.corp.openKfid;
      redis = onRedisCluster
        ? new Cluster(c.redisCluster!.seeds.map((s) => ({ host: s.split(':')[0]!, port: Number(s.split(':')[1]) })))
        : new Redis(c.redis.url);
      redis.on('error', () => undefined);
    }, 240_000);

    afterAll(async () => {
      redis?.disconnect();
      await c?.stop();
    }, 60_000);

    /** create_binding for one account, the customer scans it, the gateway hears binding_resolved. */
    async function bind(gateway: GatewayClient, user: string, openKfid: string): Promise<void> {
      const offer = await gateway.createBinding(openKfid === kfA ? {} : { openKfid });
      await c.fake.control.scan({ external_userid: user, url: offer.customerServiceUrl });
      await gateway.waitFor((f) => baseType(f.type) === 'binding_resolved' && resolvedUser(f) === user, 15_000);
    }

    it('serves both accounts with their own cursor and lease, and answers each customer from the account they wrote to', async () => {
      const gateways: GatewayClient[] = [];
      for (let g = 0; g < 3; g++) gateways.push(await c.gateway(c.nodes[g]!.wsUrl, `gw-kf-${g}`));
      // Customers of both accounts on every gateway, so every node delivers messages of both accounts.
      const customers = [
        { user: 'kf-a-0', kf: () => kfA, gw: 0 },
        { user: 'kf-b-0', kf: () => KF_B, gw: 0 },
        { user: 'kf-a-1', kf: () => kfA, gw: 1 },
        { user: 'kf-b-1', kf: () => KF_B, gw: 1 },
        { user: 'kf-a-2', kf: () => kfA, gw: 2 },
        { user: 'kf-b-2', kf: () => KF_B, gw: 2 },
      ];
      for (const x of customers) await bind(gateways[x.gw]!, x.user, x.kf());

      // Every message is announced to all three nodes at once (each callback names its account).
      const expected = new Map<string, string[]>();
      for (let seq = 0; seq < PER_USER; seq++) {
        await Promise.all(
          customers.map(async (x) => {
            const { msgid } = await c.fake.control.customerMessage({ external_userid: x.user, msgtype: 'text', content: `${x.user} #${seq}`, open_kfid: x.kf() });
            expected.set(x.user, [...(expected.get(x.user) ?? []), msgid]);
          }),
        );
      }
      for (const x of customers) {
        const ids = expected.get(x.user)!;
        await gateways[x.gw]!.waitForInbound((m) => m.id === ids.at(-1), 30_000);
      }
      // A last round of callbacks for both accounts on every node: nothing more may arrive.
      await c.fake.control.callback({ concurrent: true, times: 2 });
      await c.fake.control.callback({ concurrent: true, times: 2, open_kfid: KF_B });
      const marker = await c.fake.control.customerMessage({ external_userid: 'kf-b-0', msgtype: 'text', content: 'marker', open_kfid: KF_B });
      await gateways[0]!.waitForInbound((m) => m.id === marker.msgid, 15_000);
      for (const x of customers) {
        const got = gateways[x.gw]!.inbound().filter((m) => m.externalUserId === x.user && m.content !== 'marker');
        // Exactly once, in order, with the account it was written to.
        expect(got.map((m) => m.id)).toEqual(expected.get(x.user));
        expect(new Set(got.map((m) => m.raw['open_kfid']))).toEqual(new Set([x.kf()]));
      }

      // One cursor, one lease fence and one pending mark per account, each under its own hash tag.
      const cursorA = await redis.hget(`${c.keyPrefix}{kf:${kfA}}:cursor`, 'value');
      const cursorB = await redis.hget(`${c.keyPrefix}{kf:${KF_B}}:cursor`, 'value');
      expect(cursorA).toEqual(expect.any(String));
      expect(cursorB).toEqual(expect.any(String));
      expect(cursorA).not.toBe(cursorB);
      expect(Number(await redis.get(`${c.keyPrefix}{kf:${kfA}}:fence`))).toBeGreaterThan(0);
      expect(Number(await redis.get(`${c.keyPrefix}{kf:${KF_B}}:fence`))).toBeGreaterThan(0);

      // Every customer is answered, by a gateway that names no account, from the account they wrote to.
      for (const x of customers) {
        const ack = await gateways[x.gw]!.reply(x.user, `answer to ${x.user}`);
        expect(ack).toMatchObject({ type: 'ack' });
      }
      for (const x of customers) {
        const sent = (await c.fake.control.sent({ touser: x.user })).filter((m) => m.content === `answer to ${x.user}`);
        expect(sent.map((m) => m.open_kfid)).toEqual([x.kf()]);
      }

      // Both accounts were pulled; which node pulled which is up to the leases (and how they spread).
      const scrapes = await Promise.all(c.nodes.map(async (n) => (await fetch(n.metricsUrl)).text()));
      const pulled = (kf: string) => scrapes.map((t) => total(t, 'relay_sync_messages_total', { open_kfid: kf }));
      expect(pulled(kfA).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(3 * PER_USER);
      expect(pulled(KF_B).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(3 * PER_USER);
      process.stdout.write(`messages pulled per node: ${kfA}=${pulled(kfA).join('/')} ${KF_B}=${pulled(KF_B).join('/')}\n`);
    }, 180_000);
  });
}

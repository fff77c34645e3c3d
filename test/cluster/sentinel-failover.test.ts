import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayClient } from '@wecom-relay/gateway-client';
import { gatewayAuthToken } from '@wecom-relay/shared';
import {
  relayEnvFor,
  reserveRelayPorts,
  spawnFakeWecom,
  spawnRelayNode,
  startRedis,
  testCorp,
  uniquePrefix,
  type FakeWecomHandle,
  type RelayNodeHandle,
  type SpawnedRedis,
} from '@wecom-relay/testkit';
import { startSentinel, type SentinelHandle } from './redis-sentinel.js';

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

// The failover rule in its Sentinel form: one master with a replica, the master SIGKILLed while a burst is being
// delivered, the Sentinel promoting the replica. The cursor waited for the replica (WAIT 1), so nothing pulled is lost.
describe('a node on a Sentinel group whose master dies mid-burst', () => {
  const corp = testCorp();
  const keyPrefix = uniquePrefix('sentinel-fo');
  let master: SpawnedRedis;
  let replica: SpawnedRedis;
  let sentinel: SentinelHandle;
  let fake: FakeWecomHandle;
  let node: RelayNodeHandle;
  let gw: GatewayClient | undefined;

  beforeAll(async () => {
    master = (await startRedis({ serverArgs: ['--repl-diskless-sync-delay', '0'] })) as SpawnedRedis;
    replica = (await startRedis({ serverArgs: ['--replicaof', master.host, String(master.port), '--repl-diskless-sync-delay', '0'] })) as SpawnedRedis;
    const probe = new Redis(master.url);
    await eventually(async () => {
      if (!/slave0:.*state=online/.test(String(await probe.info('replication')))) throw new Error('replica not in sync');
    }, 30_000);
    probe.disconnect();
    sentinel = await startSentinel(master, { downAfterMs: 1_000 });
    const ports = await reserveRelayPorts();
    fake = await spawnFakeWecom({ corp, callbackUrls: [ports.webhookUrl] });
    node = await spawnRelayNode(
      relayEnvFor(corp, fake.url, {
        REDIS_SENTINELS: `127.0.0.1:${sentinel.port}`,
        REDIS_SENTINEL_NAME: 'relay-master',
        NODE_ID: 'sentinel-fo-0',
        REDIS_KEY_PREFIX: keyPrefix,
        PORT: String(ports.port),
        WS_PORT: String(ports.wsPort),
        SYNC_POLL_INTERVAL_MS: '2000',
      }),
    );
  }, 120_000);

  afterAll(async () => {
    await gw?.terminate();
    await node?.stop();
    await fake?.stop();
    await sentinel?.stop();
    await replica?.stop();
    await master?.stop();
  }, 60_000);

  it('loses, duplicates and reorders nothing for an ack-mode gateway once the replica is promoted', { timeout: 180_000 }, async () => {
    gw = new GatewayClient({ url: node.wsUrl, gatewayId: 'gw-sfo', authToken: gatewayAuthToken(corp.relaySecret, 'gw-sfo'), dialect: 'plain', delivery: 'ack' });
    await gw.connect();
    const users = ['sfo-user-0', 'sfo-user-1', 'sfo-user-2'];
    for (const user of users) {
      const offer = await gw.createBinding();
      await fake.control.scan({ external_userid: user, url: offer.customerServiceUrl });
      await gw.waitFor((f) => f.type === 'binding_resolved' && f.external_user_id === user, 15_000);
    }

    const expected = new Map<string, { user: string; order: number }>();
    let deliveredBeforeKill = -1;
    for (let round = 0; round < 4; round++) {
      const thisRound = new Set<string>();
      for (let seq = 0; seq < 60; seq++) {
        const user = users[seq % 3]!;
        const { msgid } = await fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: `r${round} s${seq}`, deliver: false });
        expected.set(msgid, { user, order: round * 1000 + seq });
        thisRound.add(msgid);
      }
      const callbacks = fake.control.callback({ concurrent: true }).catch(() => undefined);
      if (round === 1) {
        await eventually(() => {
          if (!gw!.inbound().some((m) => thisRound.has(m.id))) throw new Error('round 1 not delivering yet');
        }, 30_000);
        await master.kill();
        deliveredBeforeKill = gw.inbound().filter((m) => thisRound.has(m.id)).length;
        await eventually(async () => {
          if ((await sentinel.masterPort()) !== replica.port) throw new Error('the replica is not promoted yet');
        }, 60_000);
      }
      await callbacks;
    }
    await eventually(async () => {
      const total = gw!.inbound().filter((m) => expected.has(m.id)).length;
      if (total < expected.size) {
        await fake.control.callback({ concurrent: true }).catch(() => undefined);
        throw new Error(`${total} of ${expected.size} delivered`);
      }
    }, 90_000);

    let duplicates = 0;
    let outOfOrder = 0;
    const seen = new Set<string>();
    const lastByUser = new Map<string, number>();
    for (const m of gw.inbound().filter((x) => expected.has(x.id))) {
      if (seen.has(m.id)) duplicates += 1;
      seen.add(m.id);
      const e = expected.get(m.id)!;
      if (e.order <= (lastByUser.get(e.user) ?? -1)) outOfOrder += 1;
      lastByUser.set(e.user, e.order);
    }
    const lost = expected.size - seen.size;
    console.log(`[sentinel] ${expected.size} messages, master killed with ${deliveredBeforeKill} of round 1's 60 delivered: lost ${lost}, duplicates ${duplicates}, out of order ${outOfOrder}`);
    expect(deliveredBeforeKill, 'the master died mid-burst').toBeGreaterThan(0);
    expect({ lost, duplicates, outOfOrder }).toEqual({ lost: 0, duplicates: 0, outOfOrder: 0 });
  });
});

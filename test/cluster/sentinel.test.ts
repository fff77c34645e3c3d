import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayClient } from '@wecom-relay/gateway-client';
import { gatewayAuthToken } from '@wecom-relay/shared';
import { startSentinel } from './redis-sentinel.js';
import {
  relayEnvFor,
  reserveRelayPorts,
  spawnFakeWecom,
  spawnRelayNode,
  startRedis,
  testCorp,
  uniquePrefix,
  type FakeWecomHandle,
  type RedisHandle,
  type RelayNodeHandle,
} from '@wecom-relay/testkit';

describe('a node configured with Redis Sentinel', () => {
  const corp = testCorp();
  const keyPrefix = uniquePrefix('sentinel');
  let master: RedisHandle;
  let sentinel: { port: number; stop(): Promise<void> };
  let fake: FakeWecomHandle;
  let node: RelayNodeHandle;
  let gw: GatewayClient | undefined;

  beforeAll(async () => {
    master = await startRedis();
    sentinel = await startSentinel(master);
    const ports = await reserveRelayPorts();
    fake = await spawnFakeWecom({ corp, callbackUrls: [ports.webhookUrl] });
    node = await spawnRelayNode(
      relayEnvFor(corp, fake.url, {
        REDIS_SENTINELS: `127.0.0.1:${sentinel.port}`,
        REDIS_SENTINEL_NAME: 'relay-master',
        NODE_ID: 'sentinel-0',
        REDIS_KEY_PREFIX: keyPrefix,
        PORT: String(ports.port),
        WS_PORT: String(ports.wsPort),
      }),
    );
  }, 120_000);

  afterAll(async () => {
    await gw?.terminate();
    await node?.stop();
    await fake?.stop();
    await sentinel?.stop();
    await master?.stop();
  }, 60_000);

  it('finds the master through the sentinel and keeps its state there', async () => {
    gw = new GatewayClient({ url: node.wsUrl, gatewayId: 'gw-sentinel', authToken: gatewayAuthToken(corp.relaySecret, 'gw-sentinel'), dialect: 'plain' });
    await gw.connect();
    const offer = await gw.createBinding();
    await fake.control.scan({ external_userid: 'user-sentinel', url: offer.customerServiceUrl });
    await gw.waitFor((f) => f.type === 'binding_resolved' && f.external_user_id === 'user-sentinel', 15_000);
    const sent = await fake.control.customerMessage({ external_userid: 'user-sentinel', msgtype: 'text', content: 'via sentinel' });
    expect((await gw.waitForInbound((m) => m.id === sent.msgid, 15_000)).content).toBe('via sentinel');

    // The binding is in the master the sentinel named.
    const direct = new Redis(master.url);
    expect(await direct.hget(`${keyPrefix}{bindings}:users`, 'user-sentinel')).toBe('gw-sentinel');
    await direct.quit();
  }, 60_000);
});

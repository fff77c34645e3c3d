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
  type FakeWecomHandle,
  type RedisHandle,
  type RelayNodeHandle,
} from '@wecom-relay/testkit';

/**
 * Redis without persistence comes back empty: presence, queues, the cursor are gone. A node must put its
 * gateways back in the presence map by itself, without the gateways reconnecting. Bindings live in SQLite
 * here (BINDINGS_STORE=sqlite), as an operator who runs Redis without persistence would choose.
 */
describe('a node whose Redis restarts empty', () => {
  const corp = testCorp();
  let redis: RedisHandle;
  let fake: FakeWecomHandle;
  let node: RelayNodeHandle;
  const clients: GatewayClient[] = [];

  beforeAll(async () => {
    redis = await startRedis({ appendOnly: false, restartable: true });
    const ports = await reserveRelayPorts();
    fake = await spawnFakeWecom({ corp, callbackUrls: [ports.webhookUrl] });
    node = await spawnRelayNode(
      relayEnvFor(corp, fake.url, {
        REDIS_URL: redis.url,
        BINDINGS_STORE: 'sqlite',
        NODE_ID: 'empty-redis-0',
        PORT: String(ports.port),
        WS_PORT: String(ports.wsPort),
      }),
    );
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.terminate()));
    await node?.stop();
    await fake?.stop();
    await redis?.stop();
  }, 60_000);

  it('re-registers its gateways and delivers to them again without a reconnect', async () => {
    const gw = new GatewayClient({ url: node.wsUrl, gatewayId: 'gw-empty', authToken: gatewayAuthToken(corp.relaySecret, 'gw-empty'), dialect: 'plain' });
    clients.push(gw);
    await gw.connect();
    const offer = await gw.createBinding();
    await fake.control.scan({ external_userid: 'user-empty', url: offer.customerServiceUrl });
    await gw.waitFor((f) => f.type === 'binding_resolved' && f.external_user_id === 'user-empty', 15_000);

    await redis.restart();
    const sent = await fake.control.customerMessage({ external_userid: 'user-empty', msgtype: 'text', content: 'after an empty restart', deliver: false });
    // WeCom retries a callback that was not answered 200; play that until the node answers again.
    const deadline = Date.now() + 10_000;
    while (!(await fake.control.callback({})).some((r) => r.status === 200) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
    }
    const got = await gw.waitForInbound((m) => m.id === sent.msgid, 15_000);
    expect(got.content).toBe('after an empty restart');
    expect(gw.isConnected).toBe(true);
  }, 60_000);
});

import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayClient, baseType, resolvedUser } from '@wecom-relay/gateway-client';
import { gatewayAuthToken } from '@wecom-relay/shared';
import {
  relayEnvFor,
  reserveRelayPorts,
  spawnFakeWecom,
  spawnRelayNode,
  testCorp,
  type FakeWecomHandle,
  type RelayNodeHandle,
  type TestCorp,
} from '@wecom-relay/testkit';
import { startStoppableRedis, type StoppableRedis } from './support/stoppable-redis.js';
import { postSignedCallback, timeUntilReadiness } from './support/signed-callback.js';

// A stalled Redis (SIGSTOP: sockets stay open, nothing answers) must be seen: WeCom gets a 5xx it will retry
// within its 5 s deadline, orchestrators see the node unready, and everything comes back by itself on SIGCONT.
describe('attack: Redis stalls (SIGSTOP) under a cluster node', () => {
  const corp: TestCorp = testCorp();
  let redis: StoppableRedis;
  let fake: FakeWecomHandle;
  let node: RelayNodeHandle;
  let gateway: GatewayClient;

  beforeAll(async () => {
    redis = await startStoppableRedis();
    const ports = await reserveRelayPorts();
    fake = await spawnFakeWecom({ corp, callbackUrls: [ports.webhookUrl] });
    node = await spawnRelayNode(
      relayEnvFor(corp, fake.url, {
        REDIS_URL: redis.url,
        NODE_ID: 'stall-node',
        PORT: String(ports.port),
        WS_PORT: String(ports.wsPort),
        SYNC_POLL_INTERVAL_MS: '3600000',
      }),
      { name: 'stall-node' },
    );
    gateway = new GatewayClient({
      url: node.wsUrl,
      gatewayId: 'gw-stall',
      authToken: gatewayAuthToken(corp.relaySecret, 'gw-stall'),
      dialect: 'plain',
      timeoutMs: 15_000,
    });
    await gateway.connect();
  }, 120_000);

  afterAll(async () => {
    redis?.resume();
    await gateway?.close().catch(() => undefined);
    await node?.stop();
    await fake?.stop();
    await redis?.stop();
  }, 60_000);

  it('answers a valid callback 5xx within 5 s, turns unready within 6 s, and recovers within 10 s of SIGCONT', async () => {
    const user = 'wm-stall-user';
    const offer = await gateway.createBinding();
    await fake.control.scan({ external_userid: user, url: offer.customerServiceUrl });
    await gateway.waitFor((f) => baseType(f.type) === 'binding_resolved' && resolvedUser(f) === user, 15_000);
    const before = await fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'before the stall' });
    await gateway.waitForInbound((m) => m.id === before.msgid, 15_000);

    redis.pause();
    // Polling starts at the stall, so its figure is the time from SIGSTOP to the first non-200.
    const unready = timeUntilReadiness(node.httpUrl, (status) => status !== 200, 15_000);
    const during = await fake.control.customerMessage({
      external_userid: user,
      msgtype: 'text',
      content: 'written while Redis is stalled',
      deliver: false,
    });
    const [callback, unreadyMs] = await Promise.all([postSignedCallback(corp, node.webhookUrl, 15_000), unready]);
    console.log(`redis stall: signed callback answered ${callback.status ?? 'nothing'} after ${callback.ms} ms`);
    console.log(`redis stall: /readyz not ready ${unreadyMs ?? 'never (15 s bound)'} ms after SIGSTOP`);
    redis.resume();
    const resumedAt = Date.now();

    const after = await fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'after the stall' });
    const deliveredBoth = Promise.all([
      gateway.waitForInbound((m) => m.id === during.msgid, 30_000),
      gateway.waitForInbound((m) => m.id === after.msgid, 30_000),
    ]).then(
      () => Date.now() - resumedAt,
      () => null,
    );
    const readyAgainMs = await timeUntilReadiness(node.httpUrl, (status) => status === 200, 30_000);
    const deliveredMs = await deliveredBoth;
    console.log(`redis stall: /readyz 200 again ${readyAgainMs ?? 'never (30 s bound)'} ms after SIGCONT`);
    console.log(`redis stall: messages delivered again ${deliveredMs ?? 'never (30 s bound)'} ms after SIGCONT`);

    expect(callback.status ?? 0).toBeGreaterThanOrEqual(500);
    expect(callback.ms).toBeLessThan(5_000);
    expect(unreadyMs).not.toBeNull();
    expect(unreadyMs!).toBeLessThan(6_000);
    expect(readyAgainMs).not.toBeNull();
    expect(readyAgainMs!).toBeLessThan(10_000);
    expect(deliveredMs).not.toBeNull();
    expect(deliveredMs!).toBeLessThan(10_000);
    // Each message exactly once.
    await sleep(500);
    expect(gateway.inbound().filter((m) => m.id === during.msgid)).toHaveLength(1);
    expect(gateway.inbound().filter((m) => m.id === after.msgid)).toHaveLength(1);
  }, 120_000);
});

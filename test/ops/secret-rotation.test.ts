import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { GatewayClient } from '@wecom-relay/gateway-client';
import { gatewayAuthToken } from '@wecom-relay/shared';
import {
  relayEnvFor,
  reserveRelayPorts,
  spawnFakeWecom,
  spawnRelayNode,
  testCorp,
  type FakeWecomHandle,
  type RelayNodeHandle,
} from '@wecom-relay/testkit';
import { promMetric } from './support/prom-text.js';

/**
 * A rotation as an operator does it (docs/operations.md): restart with the new secret and the old one as
 * RELAY_AUTH_SECRET_PREVIOUS, let gateways move to new tokens, then drop the previous secret. WeCom's callback Token
 * and EncodingAESKey change the same way; here the fake WeCom keeps signing with the old ones, as WeCom does until the
 * console change is saved.
 */
describe('secret rotation', () => {
  const corp = testCorp();
  const dir = mkdtempSync(join(tmpdir(), 'relay-rotation-'));
  let fake: FakeWecomHandle | undefined;
  let node: RelayNodeHandle | undefined;
  const clients: GatewayClient[] = [];
  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.terminate()));
    await node?.stop();
    await fake?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps gateways on tokens from the old secret working through a restart with new + previous, and says which secret they used', async () => {
    const ports = await reserveRelayPorts();
    fake = await spawnFakeWecom({ corp, callbackUrls: [ports.webhookUrl] });
    const base = relayEnvFor(corp, fake.url, {
      PORT: String(ports.port),
      WS_PORT: String(ports.wsPort),
      DATABASE_PATH: join(dir, 'relay.db'),
      SYNC_POLL_INTERVAL_MS: '600000',
      LOG_LEVEL: 'debug',
    });
    node = await spawnRelayNode(base, { keepData: true });

    const oldSecret = corp.relaySecret;
    const gw = new GatewayClient({ url: node.wsUrl, gatewayId: 'gw-rotating', authToken: gatewayAuthToken(oldSecret, 'gw-rotating'), dialect: 'plain' });
    clients.push(gw);
    await gw.connect();
    const user = `wm${randomBytes(8).toString('hex')}`;
    const offer = await gw.createBinding();
    await fake.control.scan({ external_userid: user, url: offer.customerServiceUrl });
    await gw.waitFor((f) => f.type === 'binding_resolved');
    const before = await fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'before rotation' });
    await gw.waitFor((f) => f.type === 'inbound' && f.id === before.msgid);

    // Restart: new gateway secret, new callback credentials in the config, the old ones as *_PREVIOUS.
    await node.stop();
    const newSecret = `rotated-${randomBytes(16).toString('hex')}`;
    const rotated = {
      ...base,
      RELAY_AUTH_SECRET: newSecret,
      RELAY_AUTH_SECRET_PREVIOUS: oldSecret,
      WECOM_TOKEN: `new${randomBytes(6).toString('hex')}`,
      WECOM_TOKEN_PREVIOUS: corp.token,
      WECOM_ENCODING_AES_KEY: 'N'.repeat(43),
      WECOM_ENCODING_AES_KEY_PREVIOUS: corp.encodingAesKey,
    };
    node = await spawnRelayNode(rotated, { keepData: true });
    await gw.closed;
    await gw.connect(); // the same old token
    const during = await fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'during rotation' });
    await gw.waitFor((f) => f.type === 'inbound' && f.id === during.msgid);
    await gw.reply(user, 'replied with an old-secret token');

    const upgraded = new GatewayClient({ url: node.wsUrl, gatewayId: 'gw-upgraded', authToken: gatewayAuthToken(newSecret, 'gw-upgraded'), dialect: 'plain' });
    clients.push(upgraded);
    await upgraded.connect();

    const metrics = await (await fetch(node.metricsUrl)).text();
    expect(promMetric(metrics, 'relay_gateway_auth_total', { secret: 'previous', mode: 'derived' })).toBe(1);
    expect(promMetric(metrics, 'relay_gateway_auth_total', { secret: 'current', mode: 'derived' })).toBe(1);
    expect(promMetric(metrics, 'relay_webhook_credentials_total', { token: 'previous', aes_key: 'previous' })).toBeGreaterThan(0);
    const PREVIOUS_USE = 'gateway authenticated with the previous RELAY_AUTH_SECRET';
    // The line reaches the test through the node's stdout pipe, possibly after the metrics answered.
    await node.process.waitForLine((l) => l.includes(PREVIOUS_USE), 10_000);
    const previousUse = node.logs.filter((l) => l.includes(PREVIOUS_USE));
    expect(previousUse).toHaveLength(1);
    expect(previousUse[0]).toContain('"gatewayId":"gw-rotating"');
    const logs = node.logs.join('\n');
    for (const secret of [oldSecret, newSecret, rotated.WECOM_TOKEN, corp.token, corp.encodingAesKey]) expect(logs).not.toContain(secret);

    // The window closes: without the previous secret the old token is refused (4003); the new one works.
    await node.stop();
    node = await spawnRelayNode({ ...base, RELAY_AUTH_SECRET: newSecret }, { keepData: true });
    await gw.closed;
    await expect(gw.connect()).rejects.toThrow();
    expect((await gw.closed).code).toBe(4003);
    const renewed = new GatewayClient({ url: node.wsUrl, gatewayId: 'gw-rotating', authToken: gatewayAuthToken(newSecret, 'gw-rotating'), dialect: 'plain' });
    clients.push(renewed);
    await renewed.connect();
    const last = await fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'after rotation' });
    await renewed.waitFor((f) => f.type === 'inbound' && f.id === last.msgid);
  }, 180_000);
});

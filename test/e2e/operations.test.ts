import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { repoPath } from '@wecom-relay/testkit';
import { GatewayClient } from '@wecom-relay/gateway-client';
import { bindByScan } from './support/binding-steps.js';
import { eventually } from './support/eventually.js';
import { newUserId, useRelayStack } from './support/relay-stack.js';
import { sample, scrape } from './support/metric-sample.js';

const METRICS_TOKEN = 'metrics-token-for-the-operations-test';
const stack = useRelayStack({ relayEnv: { METRICS_TOKEN } });
/** The node's /metrics text, read with the bearer token this stack sets. */
const scrapeWithToken = (url: string): Promise<string> => scrape(url, METRICS_TOKEN);

describe('what an operator sees', () => {
  it('exposes the traffic on /metrics: webhooks, syncs, messages, WeCom calls, gateways, frame errors', async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();
    await bindByScan(s, gw, user);
    const sent = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'count me' });
    await gw.waitFor((f) => f.type === 'inbound' && f.id === sent.msgid);
    await gw.reply(user, 'counted');
    gw.sendRaw('{not json');
    await gw.waitFor((f) => f.type === 'error' && f.code === 'FRAME_MALFORMED');

    const res = await fetch(s.relay.metricsUrl, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(sample(text, 'relay_webhook_requests_total', { kind: 'callback', outcome: 'ok' })).toBeGreaterThan(0);
    expect(sample(text, 'relay_sync_pages_total')).toBeGreaterThan(0);
    expect(sample(text, 'relay_messages_inbound_total', { msgtype: 'text', outcome: 'queued' })).toBeGreaterThan(0);
    expect(sample(text, 'relay_messages_outbound_total', { msgtype: 'text', outcome: 'ok' })).toBeGreaterThan(0);
    expect(sample(text, 'relay_wecom_api_calls_total', { api: 'kf/sync_msg', errcode: '0' })).toBeGreaterThan(0);
    expect(sample(text, 'relay_wecom_api_duration_seconds_count', { api: 'kf/send_msg' })).toBeGreaterThan(0);
    expect(sample(text, 'relay_gateways_connected')).toBeGreaterThan(0);
    expect(sample(text, 'relay_gateway_frame_errors_total', { code: 'FRAME_MALFORMED' })).toBeGreaterThan(0);
    expect(sample(text, 'relay_deliveries_total', { route: 'local' })).toBeGreaterThan(0);
    // The standard process/runtime names (no prefix), and no label naming the node on any series.
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(sample(text, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(text).not.toMatch(/\bnode="/);
    const { version } = JSON.parse(readFileSync(repoPath('packages/relay-node/package.json'), 'utf8')) as { version: string };
    expect(sample(text, 'relay_build_info', { version, node_version: process.version })).toBe(1);
    expect(sample(text, 'relay_draining')).toBe(0);
    expect(sample(text, 'relay_ready')).toBe(1);
    expect(sample(text, 'relay_state_backend_up')).toBe(1);
    expect(sample(text, 'relay_sync_last_success_timestamp_seconds', { open_kfid: s.corp.openKfid })).toBeGreaterThan(Date.now() / 1000 - 600);
    expect(sample(text, 'relay_sync_lease_held', { open_kfid: s.corp.openKfid })).toBe(0);
    // Delivered events leave the queue once their write is recorded, which may trail the frame by a moment.
    await eventually(async () => {
      const now = await scrapeWithToken(s.relay.metricsUrl);
      expect(sample(now, 'relay_queue_waiting_events')).toBe(0);
      expect(sample(now, 'relay_queue_oldest_event_age_seconds')).toBe(0);
    });
  });

  it('counts gateway socket closes by close code, and events waiting for a connected gateway that does not read', async () => {
    const s = stack();
    const refused = new GatewayClient({ url: s.relay.wsUrl, gatewayId: 'who-knows', authToken: 'f'.repeat(64), dialect: 'plain' });
    await refused.connect().catch(() => undefined);
    await eventually(async () => {
      const text = await scrapeWithToken(s.relay.metricsUrl);
      expect(sample(text, 'relay_gateway_closes_total', { code: '4003' })).toBeGreaterThan(0);
    });

    // An ack-mode gateway that never confirms: what it was sent stays waiting in its queue.
    const gw = await s.gateway({ delivery: 'ack', autoAck: false });
    const user = newUserId();
    await bindByScan(s, gw, user);
    const sent = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'unconfirmed' });
    await gw.waitFor((f) => f.type === 'inbound' && f.id === sent.msgid);
    const text = await scrapeWithToken(s.relay.metricsUrl);
    expect(sample(text, 'relay_queue_waiting_events')).toBeGreaterThan(0);
    expect(sample(text, 'relay_queue_oldest_event_age_seconds')).toBeGreaterThan(0);
  });

  it('serves /metrics on its own port only, and only with the bearer token when one is set', async () => {
    const s = stack();
    const onWebhookPort = await fetch(`${s.relay.httpUrl}/metrics`);
    expect(onWebhookPort.status).toBe(404);
    expect(await onWebhookPort.text()).not.toContain('relay_');
    const noToken = await fetch(s.relay.metricsUrl);
    expect(noToken.status).toBe(401);
    expect(await noToken.text()).not.toContain('relay_webhook_requests_total');
    const wrongToken = await fetch(s.relay.metricsUrl, { headers: { authorization: 'Bearer not-the-metrics-token-at-all' } });
    expect(wrongToken.status).toBe(401);
    const withToken = await fetch(s.relay.metricsUrl, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(withToken.status).toBe(200);
    expect(await withToken.text()).toContain('relay_webhook_requests_total');
  });

  it('never writes a secret or a token to its logs', async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();
    await bindByScan(s, gw, user);
    await gw.reply(user, 'hello');
    // A refused hello carrying someone else's token must not echo it either.
    const intruder = new GatewayClient({ url: s.relay.wsUrl, gatewayId: 'intruder', authToken: s.tokenFor(gw.gatewayId), dialect: 'plain' });
    await intruder.connect().catch(() => undefined);
    await s.fake.control.expireTokens();
    await gw.reply(user, 'after the token expired');

    const logs = s.relay.logs.join('\n');
    expect(logs.length).toBeGreaterThan(0);
    for (const secret of [s.corp.secret, s.corp.token, s.corp.encodingAesKey, s.corp.relaySecret, s.tokenFor(gw.gatewayId)]) {
      expect(logs).not.toContain(secret);
    }
    expect(logs).not.toMatch(/access_token=(?!\[redacted\])[A-Za-z0-9_-]{8,}/);
  });
});

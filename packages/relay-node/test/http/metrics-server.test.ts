import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { MetricsServer } from '../../src/http/metrics-server.js';
import { createMetrics } from '../../src/observability/metrics.js';

const servers: MetricsServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(token?: string): Promise<string> {
  const metrics = createMetrics('metrics-test');
  metrics.syncPages.inc();
  const server = new MetricsServer({ host: '127.0.0.1', port: 0, registry: metrics.registry, token, logger: pino({ level: 'silent' }) });
  servers.push(server);
  await server.listen();
  return `http://127.0.0.1:${server.port()}`;
}

describe('metrics server', () => {
  it('serves Prometheus text on /metrics and nothing else', async () => {
    const base = await start();
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('relay_sync_pages_total');
    expect((await fetch(`${base}/webhook`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('asks for the bearer token when one is configured', async () => {
    const token = 'a-metrics-token-of-some-length';
    const base = await start(token);
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    expect((await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}x` } })).status).toBe(401);
    expect((await fetch(`${base}/metrics`, { headers: { authorization: `Basic ${token}` } })).status).toBe(401);
    const ok = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('relay_sync_pages_total');
  });
});

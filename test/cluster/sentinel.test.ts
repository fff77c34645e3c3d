import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayClient } from '@wecom-relay/gateway-client';
import { gatewayAuthToken } from '@wecom-relay/shared';
import {
  freePort,
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

/** A real Redis Sentinel (the redis-server binary in sentinel mode) watching one master. */
async function startSentinel(master: RedisHandle): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-'));
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(
    conf,
    [`port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, `sentinel monitor relay-master ${master.host} ${master.port} 1`, ''].join('\n'),
  );
  const child: ChildProcess = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined); // refused until the sentinel listens; the loop retries
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await probe.connect();
      const addr = (await probe.call('SENTINEL', 'get-master-addr-by-name', 'relay-master')) as string[] | null;
      if (addr && Number(addr[1]) === master.port) break;
    } catch {
      // not up yet
    }
    probe.disconnect();
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error('redis sentinel did not start');
    }
    await sleep(100);
  }
  probe.disconnect();
  return {
    port,
    async stop() {
      child.kill('SIGTERM');
      await Promise.race([new Promise((r) => child.once('exit', r)), sleep(3_000)]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

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

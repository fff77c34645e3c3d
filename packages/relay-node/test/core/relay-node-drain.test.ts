import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { gatewayAuthToken } from '@wecom-relay/shared';
import { testCorp } from '@wecom-relay/testkit';
import { loadConfig } from '../../src/config/load-config.js';
import { ERROR_CATALOG } from '../../src/errors/error-catalog.js';
import { RelayNode } from '../../src/relay-node.js';
import { createSingleNodeBackend } from '../../src/state/single-node-backend.js';
import { TestClient, cleanup } from '../gateway/gateway-harness.js';

const dirs: string[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await cleanup();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Yields to I/O (setTimeout may be faked) until the condition holds; bounded by the wall clock. */
async function ioUntil(condition: () => boolean, what: string, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * Whether the relay still has the socket open: a ping is answered with a pong only while it has not sent its
 * close frame (frames arrive in order, and a closing socket answers no ping), else the client sees the close.
 */
async function stillOpen(client: TestClient): Promise<boolean> {
  let answer: boolean | undefined;
  void Promise.race([client.roundTrip().then(() => true), client.closed.then(() => false)]).then((open) => (answer = open));
  await ioUntil(() => answer !== undefined, 'a pong or a close');
  return answer!;
}

/** A node on a fresh SQLite file, with the given drain window, WeCom unreachable and no polling to speak of. */
function node(spreadMs: number): { node: RelayNode; secret: string } {
  const dir = mkdtempSync(join(tmpdir(), 'relay-node-drain-'));
  dirs.push(dir);
  const corp = testCorp();
  const config = loadConfig(
    {
      WECOM_CORPID: corp.corpId,
      WECOM_APP_SECRET: corp.secret,
      WECOM_TOKEN: corp.token,
      WECOM_ENCODING_AES_KEY: corp.encodingAesKey,
      WECOM_OPEN_KFID: corp.openKfid,
      WECOM_API_BASE: 'http://127.0.0.1:9',
      RELAY_AUTH_SECRET: corp.relaySecret,
      HOST: '127.0.0.1',
      PORT: '0',
      WS_PORT: '0',
      METRICS_PORT: '0',
      DATABASE_PATH: join(dir, 'relay.db'),
      SYNC_POLL_INTERVAL_MS: '600000',
      DRAIN_SPREAD_MS: String(spreadMs),
    },
    { envFile: null },
  );
  const relay = new RelayNode({ config, logger: pino({ level: 'silent' }), backend: createSingleNodeBackend({ databasePath: config.storage.databasePath }) });
  return { node: relay, secret: corp.relaySecret };
}

/** A gateway authenticated with the real authenticator, its hello acknowledged. */
async function gateway(relay: RelayNode, secret: string, gatewayId: string): Promise<TestClient> {
  const client = await TestClient.connect(`ws://127.0.0.1:${relay.ports().ws}`);
  client.send({ type: 'hello', gateway_id: gatewayId, auth_token: gatewayAuthToken(secret, gatewayId) });
  expect(await client.next()).toEqual({ type: 'ack', id: 'hello' });
  return client;
}

describe('RelayNode.drain (SIGTERM): gateways are told to reconnect spread over DRAIN_SPREAD_MS', () => {
  it('closes 3 gateways with 1012 at 0, spread/2 and spread on the clock, then closes the node', { timeout: 30_000 }, async () => {
    const { node: relay, secret } = node(9_000);
    await relay.start();
    try {
      const clients = [await gateway(relay, secret, 'gw-1'), await gateway(relay, secret, 'gw-2'), await gateway(relay, secret, 'gw-3')];

      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      let done = false;
      const drained = relay.drain().then(() => (done = true));
      expect(relay.state).toBe('draining');

      await vi.advanceTimersByTimeAsync(0);
      expect((await clients[0]!.closed).code).toBe(ERROR_CATALOG.SERVICE_RESTART.closeCode);
      expect(await stillOpen(clients[1]!)).toBe(true);
      expect(await stillOpen(clients[2]!)).toBe(true);

      await vi.advanceTimersByTimeAsync(4_499);
      expect(await stillOpen(clients[1]!)).toBe(true);
      await vi.advanceTimersByTimeAsync(1);
      expect((await clients[1]!.closed).code).toBe(1012);
      expect(await stillOpen(clients[2]!)).toBe(true);

      await vi.advanceTimersByTimeAsync(4_499);
      expect(await stillOpen(clients[2]!)).toBe(true);
      expect(done).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect((await clients[2]!.closed).code).toBe(1012);

      const deadline = Date.now() + 10_000;
      while (!done) {
        if (Date.now() > deadline) throw new Error('drain did not finish');
        await vi.advanceTimersByTimeAsync(1_000);
      }
      await drained;
      expect(relay.state).toBe('closed');
    } finally {
      vi.useRealTimers();
      await relay.close();
    }
  });
});

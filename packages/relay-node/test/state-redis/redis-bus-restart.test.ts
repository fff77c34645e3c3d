import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, uniquePrefix, type RedisHandle } from '@wecom-relay/testkit';
import type { BusMessage } from '../../src/state/index.js';
import { RedisNodeBus } from '../../src/state/redis/index.js';
import { waitFor } from './helpers.js';

// This file restarts and kills its server, so it has one of its own.
let server: RedisHandle;
let publisherClient: Redis;
let subscriberClient: Redis;
const buses: RedisNodeBus[] = [];
const logger = pino({ level: 'silent' });

beforeAll(async () => {
  server = await startRedis({ restartable: true });
  publisherClient = new Redis(server.url);
  subscriberClient = new Redis(server.url);
});

afterEach(async () => {
  for (const bus of buses.splice(0)) await bus.close();
});

afterAll(async () => {
  publisherClient?.disconnect();
  subscriberClient?.disconnect();
  await server?.stop();
});

async function listeningPair(label: string) {
  const prefix = uniquePrefix(label);
  const publisher = new RedisNodeBus({ redis: publisherClient, prefix, logger });
  const listener = new RedisNodeBus({ redis: subscriberClient, prefix, logger });
  buses.push(publisher, listener);
  const received: BusMessage[] = [];
  await listener.subscribe('node-a', (m) => void received.push(m));
  return { publisher, listener, received };
}

/** Publishes until some node hears it: a message sent before the resubscription lands is simply lost. */
async function publishUntilHeard(bus: RedisNodeBus, message: BusMessage): Promise<void> {
  await waitFor(async () => bus.publish('node-a', message).catch(() => false), 'a subscriber on node-a');
}

describe('RedisNodeBus across a Redis restart', () => {
  it('resubscribes after the server restarts: messages arrive again and isLive() is true', async () => {
    const { publisher, listener, received } = await listeningPair('bus-restart');
    const before: BusMessage = { kind: 'wake', gatewayId: 'before', sentAt: 1 };
    expect(await publisher.publish('node-a', before)).toBe(true);
    await waitFor(() => received.length === 1, 'the first message');

    await server.restart();

    const after: BusMessage = { kind: 'superseded', gatewayId: 'after', generation: 2 };
    await publishUntilHeard(publisher, after);
    await waitFor(() => received.some((m) => 'gatewayId' in m && m.gatewayId === 'after'), 'the message after the restart');
    expect(received[0]).toEqual(before);
    expect(received.filter((m) => 'gatewayId' in m && m.gatewayId === 'after')[0]).toEqual(after);
    await waitFor(() => listener.isLive(), 'isLive after resubscribing');
    expect(listener.isLive()).toBe(true);
  });

  it('is not live while the server is down, and live again once it is back', async () => {
    const { publisher, listener, received } = await listeningPair('bus-kill');
    expect(listener.isLive()).toBe(true);

    await server.kill();
    await waitFor(() => !listener.isLive(), 'isLive to turn false');

    await server.restart();
    await waitFor(() => listener.isLive(), 'isLive to turn true again');
    const message: BusMessage = { kind: 'wake', gatewayId: 'gw-1', sentAt: 3 };
    expect(await publisher.publish('node-a', message)).toBe(true);
    await waitFor(() => received.length === 1, 'the message after coming back');
    expect(received).toEqual([message]);
  });
});

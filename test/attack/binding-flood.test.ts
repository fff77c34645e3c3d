import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, uniquePrefix, type RedisHandle } from '@wecom-relay/testkit';
import { bindByScan, isBindingResolvedFor } from '../e2e/support/binding-steps.js';
import { eventually } from '../e2e/support/eventually.js';
import { newUserId, startRelayStack, type RelayStack } from '../e2e/support/relay-stack.js';
import {
  errorCodes,
  floodCreateBinding,
  health,
  liveTokensInRedis,
  liveTokensInSqlite,
  metricValue,
  nodeRssBytes,
} from './support/binding-flood.js';

/** Issue 8: a gateway flooding create_binding, and one binding token shared by several customers. */

/** What the English confirmation a bound user receives contains. */
const CONFIRMATION = /connected/i;

describe('a cluster node on Redis, the live-token cap in front (no reuse, no practical rate limit)', () => {
  let redisServer: RedisHandle;
  let redis: Redis;
  let stack: RelayStack;
  const prefix = uniquePrefix('binding-flood');

  beforeAll(async () => {
    redisServer = await startRedis();
    redis = new Redis(redisServer.url);
    stack = await startRelayStack({
      relayEnv: {
        REDIS_URL: redisServer.url,
        REDIS_KEY_PREFIX: prefix,
        BINDING_TOKEN_REUSE_MS: '0',
        BINDING_CREATE_PER_MINUTE: '1000000',
      },
    });
  }, 240_000);

  afterAll(async () => {
    await stack?.stop();
    await redis?.quit();
    await redisServer?.stop();
  }, 60_000);

  it('holds one gateway to 100 live tokens, refuses the rest with TOO_MANY_BINDING_TOKENS, and stays healthy', async () => {
    const gw = await stack.gateway();
    const memoryBefore = await usedMemory(redis);
    const rssBefore = await nodeRssBytes(stack.relay.metricsUrl);

    const first = await floodCreateBinding(gw, 1500);
    const second = await floodCreateBinding(gw, 500);
    const live = await liveTokensInRedis(redis, prefix, gw.gatewayId);
    const memoryAfter = await usedMemory(redis);
    const rssAfter = await nodeRssBytes(stack.relay.metricsUrl);

    expect(live).toBeLessThanOrEqual(100);
    expect(first.acks).toHaveLength(100);
    expect(first.tokens.size).toBe(100);
    expect(live).toBe(100);
    expect(second.acks).toHaveLength(0);
    expect(errorCodes([...first.errors, ...second.errors])).toEqual({ TOO_MANY_BINDING_TOKENS: 1900 });
    expect(first.errors.every((e) => e.id === 'create_binding' && typeof e.message === 'string')).toBe(true);
    expect(await metricValue(stack.relay.metricsUrl, 'relay_binding_tokens_total', { outcome: 'too_many' })).toBe(1900);

    // Healthy: probes answer, another gateway gets a token, and a token shown before the flood still binds.
    expect(await health(stack.relay.httpUrl)).toEqual({ healthz: 200, readyz: 200 });
    const other = await stack.gateway();
    expect((await other.createBinding()).token).toMatch(/^[0-9a-f]{8}$/);
    const user = newUserId();
    const url = String(first.acks[0]!.customer_service_url);
    await stack.fake.control.scan({ external_userid: user, url });
    await gw.waitFor(isBindingResolvedFor(user));
    const hello = await stack.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'still served' });
    await gw.waitForInbound((m) => m.id === hello.msgid);

    console.log(
      `binding flood (redis): sent=${first.sent + second.sent} acks=${first.acks.length + second.acks.length} ` +
        `refused=${first.errors.length + second.errors.length} live_tokens=${live} ` +
        `redis_used_memory_delta_bytes=${memoryAfter - memoryBefore} node_rss_delta_bytes=${rssAfter - rssBefore}`,
    );
  }, 240_000);

  it('a token binds one customer: a second scan of the same QR, or the token typed by a third, binds nobody', async () => {
    const gw = await stack.gateway();
    const elsewhere = await stack.gateway();
    const [first, second, third, marker] = [newUserId(), newUserId(), newUserId(), newUserId()];
    await bindByScan(stack, elsewhere, third);
    const offer = await gw.createBinding();

    await stack.fake.control.scan({ external_userid: first, url: offer.customerServiceUrl });
    await stack.fake.control.scan({ external_userid: second, url: offer.customerServiceUrl });
    const typed = await stack.fake.control.customerMessage({ external_userid: third, msgtype: 'text', content: offer.token });
    const fromSecond = await stack.fake.control.customerMessage({ external_userid: second, msgtype: 'text', content: 'am I bound?' });
    // Pulled in order: once the marker is bound and its message is in, everything before it was handled.
    await bindByScan(stack, gw, marker);
    const markerMessage = await stack.fake.control.customerMessage({ external_userid: marker, msgtype: 'text', content: 'marker' });
    await gw.waitForInbound((m) => m.id === markerMessage.msgid);

    expect(gw.resolvedBindings()).toEqual([first, marker]);
    expect(gw.inbound().map((m) => m.id)).not.toContain(fromSecond.msgid);
    // The third customer's text was an ordinary message to the gateway they were bound to.
    const asMessage = await elsewhere.waitForInbound((m) => m.id === typed.msgid);
    expect(asMessage.content).toBe(offer.token);
    expect(elsewhere.resolvedBindings()).toEqual([third]);
    const confirmedTo = async (user: string) =>
      (await stack.fake.control.sent({ touser: user })).some((m) => m.msgtype === 'text' && CONFIRMATION.test(m.content ?? ''));
    await eventually(async () => expect(await confirmedTo(first)).toBe(true));
    expect(await confirmedTo(second)).toBe(false);

    const bound = (await metricValue(stack.relay.metricsUrl, 'relay_binding_attempts_total', { outcome: 'bound' })) | 0;
    const refused = (await metricValue(stack.relay.metricsUrl, 'relay_binding_attempts_total', { outcome: 'unknown_token' })) | 0;
    console.log(`binding token single use: scans_and_types=3 bound=1 not_bound=2 (node totals: bound=${bound} unknown_token=${refused})`);
  }, 240_000);

  it('stops trying the typed tokens of a customer who guessed wrong 5 times; the token stays for someone else', async () => {
    const gw = await stack.gateway();
    const offer = await gw.createBinding();
    const [guesser, honest] = [newUserId(), newUserId()];
    for (let i = 0; i < 5; i++) {
      await stack.fake.control.customerMessage({ external_userid: guesser, msgtype: 'text', content: `0000000${i}` });
    }
    await stack.fake.control.customerMessage({ external_userid: guesser, msgtype: 'text', content: offer.token });
    await stack.fake.control.customerMessage({ external_userid: honest, msgtype: 'text', content: offer.token });
    await gw.waitFor(isBindingResolvedFor(honest));

    // Different customers' messages are handled side by side: wait until the guesser's last one was refused.
    const logged = await eventually(() => {
      const lines = stack.relay.logs.filter((l) => l.includes(guesser) && l.includes('typed binding token'));
      expect(lines.filter((l) => l.includes('not tried'))).toHaveLength(1);
      return lines;
    });
    expect(logged).toHaveLength(6);
    const limited = await metricValue(stack.relay.metricsUrl, 'relay_binding_attempts_total', { via: 'typed', outcome: 'guess_limited' });
    expect(limited).toBe(1);
    expect(gw.resolvedBindings()).toEqual([honest]);
    console.log(`typed-token guesses: misses=5 then the live token: bound=false; guess_limited_total=${limited}; log_lines=${logged.length}`);
  }, 120_000);

  it('gives a gateway that asks in hello a 32-hex token, which a customer may type', async () => {
    const gw = await stack.gateway({ features: ['long_binding_token'] });
    const offer = await gw.createBinding();
    expect(offer.token).toMatch(/^[0-9a-f]{32}$/);
    const user = newUserId();
    await stack.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: offer.token.toUpperCase() });
    await gw.waitFor(isBindingResolvedFor(user));
  }, 120_000);
});

describe('a single node on SQLite with the default limits', () => {
  let stack: RelayStack;

  beforeAll(async () => {
    stack = await startRelayStack();
  }, 240_000);

  afterAll(async () => {
    await stack?.stop();
  }, 60_000);

  it('answers a flood with the same unused token and then RATE_LIMITED, keeping the live tokens bounded', async () => {
    const gw = await stack.gateway();
    const flood = await floodCreateBinding(gw, 500);
    const live = liveTokensInSqlite(stack.relay.env.DATABASE_PATH!, gw.gatewayId);

    expect(live).toBeLessThanOrEqual(100);
    expect(live).toBe(flood.tokens.size);
    const codes = errorCodes(flood.errors);
    expect(Object.keys(codes).filter((c) => c !== 'RATE_LIMITED' && c !== 'TOO_MANY_BINDING_TOKENS')).toEqual([]);
    expect(codes.RATE_LIMITED ?? 0).toBeGreaterThan(0);
    expect(flood.errors.find((e) => e.code === 'RATE_LIMITED')?.message).toBe('too many requests; slow down');
    expect(await health(stack.relay.httpUrl)).toEqual({ healthz: 200, readyz: 200 });

    console.log(
      `binding flood (sqlite, defaults): sent=${flood.sent} acks=${flood.acks.length} distinct_tokens=${flood.tokens.size} ` +
        `refused=${JSON.stringify(codes)} live_rows=${live}`,
    );
  }, 240_000);
});

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? Number.NaN);
}

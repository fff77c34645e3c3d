import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FakeWecom } from '../../../fake-wecom/src/index.js';
import { MemoryAccessTokenStore } from '../../src/state/memory/memory-access-token-store.js';
import { WecomApiError } from '../../src/wecom/index.js';
import { clientFor, customerWrites, startFake } from './wecom-test-kit.js';

let fake: FakeWecom;

beforeAll(async () => {
  fake = await startFake({});
});
afterAll(() => fake.close());
afterEach(() => fake.reset());

const gettokenCalls = () => fake.stats().calls['gettoken'] ?? 0;

describe('access token', () => {
  it('is fetched once and reused for many calls', async () => {
    const { client, refreshes } = clientFor(fake);
    for (let i = 0; i < 5; i++) await client.kf.syncMsg({ openKfid: fake.options.openKfid });
    expect(gettokenCalls()).toBe(1);
    expect(fake.stats().calls['kf/sync_msg']).toBe(5);
    expect(refreshes).toEqual([true]);
  });

  it('survives WeCom expiring tokens mid-run: one refresh, then the call succeeds', async () => {
    const { client } = clientFor(fake);
    await customerWrites(fake, 'wmExpiry');
    await client.kf.sendText({ openKfid: fake.options.openKfid, toUser: 'wmExpiry', content: 'before' });
    fake.expireTokens();

    await client.kf.sendText({ openKfid: fake.options.openKfid, toUser: 'wmExpiry', content: 'after' });
    expect(fake.sent({ touser: 'wmExpiry' }).map((m) => m.content)).toEqual(['before', 'after']);
    expect(gettokenCalls()).toBe(2);
    expect(fake.stats().errors).toEqual({ '42001': 1 });
  });

  it('refreshes once for many concurrent calls', async () => {
    const { client } = clientFor(fake);
    await Promise.all(Array.from({ length: 20 }, () => client.kf.syncMsg({ openKfid: fake.options.openKfid })));
    expect(gettokenCalls()).toBe(1);

    fake.expireTokens();
    await Promise.all(Array.from({ length: 20 }, () => client.kf.syncMsg({ openKfid: fake.options.openKfid })));
    expect(gettokenCalls()).toBe(2);
  });

  it('is shared by nodes through the store: a second node fetches no token of its own', async () => {
    const store = new MemoryAccessTokenStore();
    const nodeA = clientFor(fake, { tokenStore: store });
    const nodeB = clientFor(fake, { tokenStore: store });
    await Promise.all([
      nodeA.client.kf.syncMsg({ openKfid: fake.options.openKfid }),
      nodeB.client.kf.syncMsg({ openKfid: fake.options.openKfid }),
    ]);
    expect(gettokenCalls()).toBe(1);
  });

  it('refreshes anyway when another holder keeps the refresh lock and writes nothing', async () => {
    const store = new MemoryAccessTokenStore();
    expect(await store.tryLockRefresh(60_000)).toBe(true); // a crashed node holds the lock
    const { client, logs } = clientFor(fake, { tokenStore: store, lockWaitMs: 200 });
    await client.kf.syncMsg({ openKfid: fake.options.openKfid });
    expect(gettokenCalls()).toBe(1);
    expect(logs.text()).toContain('refreshing anyway');
  });

  it('refreshes ahead of expiry, inside the margin', async () => {
    let now = Date.now();
    const { client } = clientFor(fake, { now: () => now, refreshMarginMs: 300_000 });
    await client.kf.syncMsg({ openKfid: fake.options.openKfid });
    now += 7200_000 - 299_000; // within 5 minutes of expiry
    fake.expireTokens(); // WeCom would hand out a new one only for an expired token
    await client.kf.syncMsg({ openKfid: fake.options.openKfid });
    expect(gettokenCalls()).toBe(2);
    expect(fake.stats().errors).toEqual({}); // the refresh came before any 42001
  });

  it('stops on a wrong secret with the errcode and no loop', async () => {
    const { client, refreshes } = clientFor(fake, { secret: 'wrong-secret' });
    const err = await client.kf.syncMsg({ openKfid: fake.options.openKfid }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WecomApiError);
    expect(err).toMatchObject({ code: 'WECOM_API_ERROR', errcode: 40001, api: 'gettoken' });
    expect(gettokenCalls()).toBe(1);
    expect(fake.stats().calls['kf/sync_msg']).toBeUndefined();
    expect(refreshes).toEqual([false]);
  });

  it('retries a refused token only once', async () => {
    const { client } = clientFor(fake);
    fake.faults({ path: 'kf/sync_msg', errcode: 40014, times: 3 });
    const err = await client.kf.syncMsg({ openKfid: fake.options.openKfid }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'WECOM_API_ERROR', errcode: 40014 });
    expect(fake.stats().calls['kf/sync_msg']).toBe(2);
  });

  it('never logs the token or the secret', async () => {
    const { client, logs } = clientFor(fake, { timeoutMs: 100, maxRetries: 1 });
    fake.faults({ path: 'kf/sync_msg', delayMs: 300 }, { path: 'kf/sync_msg', errcode: -1 });
    await client.kf.syncMsg({ openKfid: fake.options.openKfid }).catch(() => undefined);
    const first = await client.tokens.get();
    fake.expireTokens();
    await client.kf.syncMsg({ openKfid: fake.options.openKfid });
    const second = await client.tokens.get();
    expect(second).not.toBe(first);
    const text = logs.text();
    expect(text).toContain('retrying');
    expect(text).not.toContain(first);
    expect(text).not.toContain(second);
    expect(text).not.toContain(fake.options.corpSecret);
    expect(text).not.toContain('access_token=');
  });
});

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FakeWecom } from '../../../fake-wecom/src/index.js';
import { MemoryAccessTokenStore } from '../../src/state/memory/memory-access-token-store.js';
import { WecomApiError, createWecomClient } from '../../src/wecom/index.js';
import { captureLogs, clientFor, customerWrites, startFake } from './wecom-test-kit.js';

let fake: FakeWecom;

beforeAll(async () => {
  fake = await startFake({});
});
afterAll(() => fake.close());
afterEach(() => fake.reset());

const kfid = () => fake.options.openKfid;
const callsOf = (api: string) => fake.stats().calls[api] ?? 0;

describe('retries', () => {
  it('retries -1 and 45009 with back-off, then succeeds', async () => {
    const { client, calls } = clientFor(fake);
    fake.faults({ path: 'kf/sync_msg', errcode: -1, times: 2 }, { path: 'kf/sync_msg', errcode: 45009 });
    const page = await client.kf.syncMsg({ openKfid: kfid() });
    expect(page.errcode).toBe(0);
    expect(callsOf('kf/sync_msg')).toBe(4);
    expect(calls.filter((c) => c.api === 'kf/sync_msg').map((c) => c.errcode)).toEqual([-1, -1, 45009, 0]);
  });

  it('gives up after maxRetries with WECOM_UNAVAILABLE and the last errcode', async () => {
    const { client } = clientFor(fake, { maxRetries: 2 });
    fake.faults({ path: 'kf/sync_msg', errcode: 45033, times: 5 });
    const err = await client.kf.syncMsg({ openKfid: kfid() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WecomApiError);
    expect(err).toMatchObject({ code: 'WECOM_UNAVAILABLE', errcode: 45033, api: 'kf/sync_msg' });
    expect(callsOf('kf/sync_msg')).toBe(3);
  });

  it('retries HTTP 5xx, dropped connections and timeouts', async () => {
    const { client, calls } = clientFor(fake, { timeoutMs: 200 });
    fake.faults(
      { path: 'kf/sync_msg', httpStatus: 502 },
      { path: 'kf/sync_msg', dropConnection: true },
      { path: 'kf/sync_msg', delayMs: 1000 },
    );
    const page = await client.kf.syncMsg({ openKfid: kfid() });
    expect(page.errcode).toBe(0);
    expect(calls.filter((c) => c.api === 'kf/sync_msg').map((c) => c.errcode)).toEqual(['network', 'network', 'network', 0]);
  });

  it('reports an unreachable WeCom as WECOM_UNAVAILABLE without an errcode', async () => {
    const { logger } = captureLogs();
    const client = createWecomClient({
      apiBase: 'http://127.0.0.1:1',
      corpId: 'ww',
      secret: 's',
      tokenStore: new MemoryAccessTokenStore(),
      logger,
      maxRetries: 1,
      retryBaseMs: 5,
    });
    const err = await client.kf.syncMsg({ openKfid: 'wk' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'WECOM_UNAVAILABLE', errcode: null, api: 'gettoken' });
  });

  it('surfaces a terminal errcode (95001) at once, without retrying', async () => {
    const { client } = clientFor(fake);
    await customerWrites(fake, 'wmLimit');
    for (let i = 0; i < 5; i++) await client.kf.sendText({ openKfid: kfid(), toUser: 'wmLimit', content: `r${i}` });
    const before = callsOf('kf/send_msg');
    const err = await client.kf.sendText({ openKfid: kfid(), toUser: 'wmLimit', content: 'one too many' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'WECOM_API_ERROR', errcode: 95001, api: 'kf/send_msg' });
    expect(callsOf('kf/send_msg')).toBe(before + 1);
  });

  it('surfaces 95007 for a stale callback token so the caller can resync without it', async () => {
    const { client } = clientFor(fake);
    const err = await client.kf.syncMsg({ openKfid: kfid(), token: 'ENCstale' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'WECOM_API_ERROR', errcode: 95007 });
  });

  it('sends once when the answer to send_msg is lost: the retry reuses the client msgid', async () => {
    const { client } = clientFor(fake);
    await customerWrites(fake, 'wmLost');
    fake.faults({ path: 'kf/send_msg', dropConnection: true, after: true });
    const result = await client.kf.sendText({ openKfid: kfid(), toUser: 'wmLost', content: 'exactly once' });
    const sent = fake.sent({ touser: 'wmLost' });
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ content: 'exactly once', msgid: result.msgid });
    expect(callsOf('kf/send_msg')).toBe(2);
  });

  it('refuses a msgid the caller reuses (no earlier failure, so it is not taken as success)', async () => {
    const { client } = clientFor(fake);
    await customerWrites(fake, 'wmReuse');
    await client.kf.sendText({ openKfid: kfid(), toUser: 'wmReuse', content: 'first', msgid: 'reused-id' });
    const err = await client.kf.sendText({ openKfid: kfid(), toUser: 'wmReuse', content: 'second', msgid: 'reused-id' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'WECOM_API_ERROR', errcode: 95019 });
  });

  it('treats a 200 that is not JSON as a transient failure', async () => {
    let served = 0;
    const proxy = createServer((req, res) => {
      served++;
      if (served === 1) {
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html>gateway</html>');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ errcode: 0, errmsg: 'ok', access_token: 'tok', expires_in: 7200 }));
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const { logger } = captureLogs();
      const client = createWecomClient({
        apiBase: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
        corpId: 'ww',
        secret: 's',
        tokenStore: new MemoryAccessTokenStore(),
        logger,
        retryBaseMs: 5,
      });
      expect(await client.tokens.get()).toBe('tok');
      expect(served).toBe(2);
    } finally {
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    }
  });
});

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_AMR, SAMPLE_PNG, type FakeWecom } from '../../../fake-wecom/src/index.js';
import { MemoryAccessTokenStore } from '../../src/state/memory/memory-access-token-store.js';
import { WecomApiError, WecomMediaTooLargeError, createWecomClient } from '../../src/wecom/index.js';
import { captureLogs, clientFor, startFake } from './wecom-test-kit.js';

let fake: FakeWecom;

beforeAll(async () => {
  fake = await startFake({});
});
afterAll(() => fake.close());
afterEach(() => fake.reset());

describe('media', () => {
  it('round-trips an upload: the download has the same bytes and type', async () => {
    const { client } = clientFor(fake);
    const mediaId = await client.media.upload('image', SAMPLE_PNG, 'reply.png', 'image/png');
    const got = await client.media.download(mediaId, { maxBytes: 1024 * 1024 });
    expect(got.mime).toBe('image/png');
    expect(got.data.equals(SAMPLE_PNG)).toBe(true);
  });

  it('downloads what a customer sent', async () => {
    const { client } = clientFor(fake);
    const msg = await fake.customerMessage({ external_userid: 'wmVoice', msgtype: 'voice', deliver: false });
    const got = await client.media.download((msg.message['voice'] as { media_id: string }).media_id, { maxBytes: 4096 });
    expect(got.data.equals(SAMPLE_AMR)).toBe(true);
    expect(got.mime).toBe('voice/amr');
  });

  it('enforces the byte cap: exactly maxBytes passes, one byte less refuses', async () => {
    const { client } = clientFor(fake);
    const mediaId = await client.media.upload('image', SAMPLE_PNG, 'a.png', 'image/png');
    await expect(client.media.download(mediaId, { maxBytes: SAMPLE_PNG.length })).resolves.toMatchObject({ mime: 'image/png' });
    const err = await client.media.download(mediaId, { maxBytes: SAMPLE_PNG.length - 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WecomMediaTooLargeError);
    expect(err).toMatchObject({ code: 'WECOM_MEDIA_TOO_LARGE', maxBytes: SAMPLE_PNG.length - 1 });
    expect(fake.stats().calls['media/get']).toBe(2);
  });

  it('surfaces 40007 for an unknown media_id, without retrying', async () => {
    const { client } = clientFor(fake);
    const err = await client.media.download('no-such-media', { maxBytes: 1024 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WecomApiError);
    expect(err).toMatchObject({ code: 'WECOM_API_ERROR', errcode: 40007, api: 'media/get' });
    expect(fake.stats().calls['media/get']).toBe(1);
  });

  it('refreshes an expired token during a download', async () => {
    const { client } = clientFor(fake);
    const mediaId = await client.media.upload('image', SAMPLE_PNG, 'a.png', 'image/png');
    fake.expireTokens();
    const got = await client.media.download(mediaId, { maxBytes: 1024 });
    expect(got.data.equals(SAMPLE_PNG)).toBe(true);
  });

  it('surfaces upload errors by errcode', async () => {
    const { client } = clientFor(fake);
    const err = await client.media.upload('image', Buffer.from('GIF89a....'), 'a.gif', 'image/gif').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'WECOM_API_ERROR', errcode: 40005, api: 'media/upload' });
  });
});

describe('media download without Content-Length', () => {
  // 64 MB offered; backpressure keeps the server from writing more than the socket buffers hold.
  const TOTAL_CHUNKS = 1024;
  let server: Server;
  let streamed = 0;
  let finished = false;

  beforeAll(async () => {
    // Stands in for a WeCom that streams a large file in chunks (no Content-Length, as with chunked encoding).
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/cgi-bin/gettoken') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ errcode: 0, errmsg: 'ok', access_token: 't', expires_in: 7200 }));
        return;
      }
      if (url.searchParams.get('media_id') === 'json-error') {
        // An error body with a misleading type: only sniffing finds it.
        res.writeHead(200, { 'content-type': 'application/octet-stream' }).end('{"errcode":40007,"errmsg":"invalid media_id"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'image/jpeg' });
      const chunk = Buffer.alloc(64 * 1024, 1);
      let sent = 0;
      const pump = () => {
        while (sent < TOTAL_CHUNKS) {
          sent++;
          streamed += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        finished = true;
        res.end();
      };
      pump();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const client = () =>
    createWecomClient({
      apiBase: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      corpId: 'ww',
      secret: 's',
      tokenStore: new MemoryAccessTokenStore(),
      logger: captureLogs().logger,
    });

  it('aborts a stream past the cap instead of buffering all of it', async () => {
    const err = await client().media.download('big', { maxBytes: 256 * 1024 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WecomMediaTooLargeError);
    expect(finished).toBe(false);
    expect(streamed).toBeLessThan(TOTAL_CHUNKS * 64 * 1024);
  });

  it('detects a JSON error body sent as a file', async () => {
    const err = await client().media.download('json-error', { maxBytes: 1024 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'WECOM_API_ERROR', errcode: 40007 });
  });
});

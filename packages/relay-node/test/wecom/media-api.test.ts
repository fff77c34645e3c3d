import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_AMR, SAMPLE_PNG, type FakeWecom } from '../../../fake-wecom/src/index.js';
import { MemoryAccessTokenStore } from '../../src/state/memory/memory-access-token-store.js';
import { MediaApi, WecomApiError, WecomMediaTooLargeError, createWecomClient } from '../../src/wecom/index.js';
import { captureLogs, clientFor, startFake, type ObservedCall } from './wecom-test-kit.js';

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

describe('media too large for one download (830002): fetched in Range chunks', () => {
  const MiB = 1024 * 1024;
  let large: FakeWecom;
  const nineMiB = randomBytes(9 * MiB);

  beforeAll(async () => {
    large = await startFake({ largeMediaThresholdBytes: MiB });
  });
  afterAll(() => large.close());
  afterEach(() => large.reset());

  /** A client of the large-media fake whose media API asks for 2 MiB per Range request. */
  const rangedClient = () => {
    const test = clientFor(large);
    return { ...test, media: new MediaApi(test.client.http, { rangeChunkBytes: 2 * MiB }) };
  };
  const mediaGets = (calls: ObservedCall[]) => calls.filter((c) => c.api === 'media/get').map((c) => c.errcode);

  it('assembles a 9 MiB file from 2 MiB chunks, byte-identical, with its Content-Type', async () => {
    const { media, calls } = rangedClient();
    const mediaId = await media.upload('file', nineMiB, 'big.zip', 'application/zip');
    const got = await media.download(mediaId, { maxBytes: nineMiB.length });
    expect(got.mime).toBe('application/zip');
    expect(got.data.length).toBe(nineMiB.length);
    expect(got.data.equals(nineMiB)).toBe(true);
    // One refused plain request, then ceil(9 / 2) = 5 chunks.
    expect(mediaGets(calls)).toEqual([830002, 0, 0, 0, 0, 0]);
    expect(large.stats().calls['media/get']).toBe(6);
  });

  it('refuses a file whose total exceeds maxBytes after the first chunk, without fetching the rest', async () => {
    const { media } = rangedClient();
    const mediaId = await media.upload('file', nineMiB, 'big.zip', 'application/zip');
    const err = await media.download(mediaId, { maxBytes: nineMiB.length - 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WecomMediaTooLargeError);
    expect(err).toMatchObject({ code: 'WECOM_MEDIA_TOO_LARGE', maxBytes: nineMiB.length - 1 });
    expect(large.stats().calls['media/get']).toBe(2);
  });

  it('still downloads a file under the threshold in one request', async () => {
    const { media, calls } = rangedClient();
    const small = nineMiB.subarray(0, MiB);
    const mediaId = await media.upload('file', small, 'small.zip', 'application/zip');
    const got = await media.download(mediaId, { maxBytes: 9 * MiB });
    expect(got.data.equals(small)).toBe(true);
    expect(mediaGets(calls)).toEqual([0]);
  });

  it('sends each chunk through the call wrapper: a refused token and a busy answer mid-download are retried', async () => {
    const { media, calls } = rangedClient();
    const data = nineMiB.subarray(0, 5 * MiB);
    const mediaId = await media.upload('file', data, 'mid.zip', 'application/zip');
    // The plain request is answered 830002 as usual; the first chunk meets an expired token, then a busy WeCom.
    large.faults({ path: 'media/get', errcode: 830002 }, { path: 'media/get', errcode: 42001 }, { path: 'media/get', errcode: -1 });
    const got = await media.download(mediaId, { maxBytes: data.length });
    expect(got.data.equals(data)).toBe(true);
    expect(mediaGets(calls)).toEqual([830002, 42001, -1, 0, 0, 0]);
  });

  it('surfaces a JSON error answered to a chunk as WecomApiError', async () => {
    const { media } = rangedClient();
    const mediaId = await media.upload('file', nineMiB.subarray(0, 3 * MiB), 'gone.zip', 'application/zip');
    large.faults({ path: 'media/get', errcode: 830002 }, { path: 'media/get', errcode: 40007 });
    const err = await media.download(mediaId, { maxBytes: 9 * MiB }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WecomApiError);
    expect(err).toMatchObject({ code: 'WECOM_API_ERROR', errcode: 40007, api: 'media/get' });
  });

  it('refuses a chunk size that is not a positive integer', () => {
    const { client } = clientFor(large);
    expect(() => new MediaApi(client.http, { rangeChunkBytes: 0 })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});

describe('Range downloads from a server that answers the wrong thing', () => {
  const FILE = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz');
  let server: Server;
  let requests: { mediaId: string | null; range: string | undefined }[] = [];

  beforeAll(async () => {
    // Stands in for a WeCom (or a proxy before it) that refuses plain downloads and then misanswers the Range requests.
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/cgi-bin/gettoken') {
        const answer = { errcode: 0, errmsg: 'ok', access_token: 't', expires_in: 7200 };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
        return;
      }
      const mediaId = url.searchParams.get('media_id');
      requests.push({ mediaId, range: req.headers.range });
      if (req.headers.range === undefined) {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"errcode":830002,"errmsg":"too large"}');
        return;
      }
      const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range);
      const first = Number(m?.[1]);
      const last = Math.min(Number(m?.[2]), FILE.length - 1);
      if (mediaId === 'shifted') {
        // One byte later than asked.
        res.writeHead(206, { 'content-type': 'application/zip', 'content-range': `bytes ${first + 1}-${last}/${FILE.length}` });
        res.end(FILE.subarray(first + 1, last + 1));
      } else if (mediaId === 'no-content-range') {
        res.writeHead(206, { 'content-type': 'application/zip' }).end(FILE.subarray(first, last + 1));
      } else if (mediaId === 'short-body') {
        // Content-Range promises more than the body holds (no Content-Length, so the stream just ends).
        res.writeHead(206, { 'content-type': 'application/zip', 'content-range': `bytes ${first}-${last}/${FILE.length}` });
        res.end(FILE.subarray(first, last));
      } else if (mediaId === 'ignores-range') {
        res.writeHead(200, { 'content-type': 'application/zip' }).end(FILE);
      } else {
        // Only the first chunk's type counts; a later chunk's differing type must not replace it.
        const type = first === 0 ? 'application/zip' : 'text/html';
        res.writeHead(206, { 'content-type': type, 'content-range': `bytes ${first}-${last}/${FILE.length}` });
        res.end(FILE.subarray(first, last + 1));
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  afterEach(() => {
    requests = [];
  });

  const media = () =>
    new MediaApi(
      createWecomClient({
        apiBase: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        corpId: 'ww',
        secret: 's',
        tokenStore: new MemoryAccessTokenStore(),
        logger: captureLogs().logger,
        retryBaseMs: 5,
      }).http,
      { rangeChunkBytes: 10 },
    );

  it('assembles a well-behaved answer and keeps the first chunk\'s Content-Type', async () => {
    const got = await media().download('fine', { maxBytes: 1024 });
    expect(got.data.toString()).toBe(FILE.toString());
    expect(got.mime).toBe('application/zip');
    expect(requests.map((r) => r.range)).toEqual([undefined, 'bytes=0-9', 'bytes=10-19', 'bytes=20-29', 'bytes=30-35']);
  });

  it.each(['shifted', 'no-content-range', 'short-body'])('refuses a chunk with the wrong range (%s) without retrying', async (mediaId) => {
    const err = await media().download(mediaId, { maxBytes: 1024 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WecomApiError);
    expect(err).toMatchObject({ code: 'WECOM_API_ERROR', api: 'media/get' });
    expect(requests).toHaveLength(2);
  });

  it('takes a whole file answered to the first Range request, within the cap', async () => {
    expect((await media().download('ignores-range', { maxBytes: 1024 })).data.equals(FILE)).toBe(true);
    const err = await media().download('ignores-range', { maxBytes: 10 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WecomMediaTooLargeError);
  });
});

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createMediaLinkHandler, type MediaOpener } from '../../src/media/media-link-route.js';
import { MediaLinkSigner } from '../../src/media/media-link-signer.js';
import { WecomApiError } from '../../src/wecom/wecom-api-error.js';

const logger = pino({ level: 'silent' });
const NOW = 1_700_000_000_000;

/** A WeCom download the test feeds by hand: the first chunk at once, the rest when `finish` is called. */
function heldDownload() {
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  let cancelled!: () => void;
  const wasCancelled = new Promise<void>((r) => (cancelled = r));
  async function* chunks() {
    yield new Uint8Array([1, 2, 3]);
    await Promise.race([done, wasCancelled]);
    yield new Uint8Array([4, 5, 6]);
  }
  return {
    finish,
    wasCancelled,
    media: { mime: 'video/mp4', size: 6, disposition: 'attachment; filename="v.mp4"', chunks: chunks(), cancel: async () => cancelled() },
  };
}

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r) ?? r(undefined));
  server = undefined;
});

async function serve(source: MediaOpener, maxConcurrent: number, idleTimeoutMs?: number): Promise<{ signer: MediaLinkSigner }> {
  let base = '';
  const signer = new MediaLinkSigner({ baseUrl: 'http://placeholder', secret: 'a-test-secret-of-enough-length', ttlMs: 60_000, now: () => NOW });
  const handler = createMediaLinkHandler({ signer, source, maxConcurrent, logger, ...(idleTimeoutMs ? { idleTimeoutMs } : {}) });
  server = createServer((req, res) => void handler(req, res, new URL(req.url ?? '/', base).searchParams));
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const linked = new MediaLinkSigner({ baseUrl: base, secret: 'a-test-secret-of-enough-length', ttlMs: 60_000, now: () => NOW });
  return { signer: linked };
}

describe('media link route', () => {
  it('streams with WeCom headers, and answers MEDIA_LINK_BUSY beyond its concurrency instead of queueing', async () => {
    const held = heldDownload();
    const opens: string[] = [];
    const { signer } = await serve({ open: async (id) => (opens.push(id), held.media) }, 1);
    const first = await fetch(signer.sign('m1').url);
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toBe('video/mp4');
    expect(first.headers.get('content-length')).toBe('6');
    expect(first.headers.get('content-disposition')).toBe('attachment; filename="v.mp4"');

    const second = await fetch(signer.sign('m2').url);
    expect(second.status).toBe(503);
    expect(second.headers.get('retry-after')).toBe('1');
    expect(await second.json()).toMatchObject({ code: 'MEDIA_LINK_BUSY' });
    expect(opens).toEqual(['m1']);

    held.finish();
    expect([...new Uint8Array(await first.arrayBuffer())]).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('stops the WeCom download when the fetcher goes away', async () => {
    const held = heldDownload();
    const { signer } = await serve({ open: async () => held.media }, 4);
    const controller = new AbortController();
    const res = await fetch(signer.sign('m1').url, { signal: controller.signal });
    const reader = res.body!.getReader();
    await reader.read();
    controller.abort();
    await expect(Promise.race([held.wasCancelled.then(() => 'cancelled'), new Promise((r) => setTimeout(r, 5_000, 'still running'))])).resolves.toBe('cancelled');
  });

  it('abandons a download WeCom stopped feeding: the fetcher sees the cut, the slot is free again', async () => {
    const stalled = heldDownload();
    const opened: string[] = [];
    const { signer } = await serve({ open: async (id) => (opened.push(id), id === 'stalls' ? stalled.media : heldDownload().media) }, 1, 200);
    const res = await fetch(signer.sign('stalls').url);
    await expect(res.arrayBuffer()).rejects.toThrow();
    await expect(Promise.race([stalled.wasCancelled.then(() => 'cancelled'), new Promise((r) => setTimeout(r, 5_000, 'still running'))])).resolves.toBe('cancelled');
    const next = await fetch(signer.sign('next').url);
    expect(next.status).toBe(200);
    await next.body?.cancel();
    expect(opened).toEqual(['stalls', 'next']);
  });

  it('answers HEAD with the headers alone and lets the WeCom download go', async () => {
    const held = heldDownload();
    const { signer } = await serve({ open: async () => held.media }, 4);
    const res = await fetch(signer.sign('m1').url, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe('6');
    await expect(Promise.race([held.wasCancelled.then(() => 'cancelled'), new Promise((r) => setTimeout(r, 5_000, 'still running'))])).resolves.toBe('cancelled');
  });

  it("names WeCom's refusal with its errcode, and an unreachable WeCom as WECOM_UNAVAILABLE", async () => {
    const { signer } = await serve({
      open: async (id) => {
        if (id === 'gone') throw new WecomApiError('WECOM_API_ERROR', { api: 'media/get', errcode: 40007, errmsg: 'invalid media_id' });
        throw new WecomApiError('WECOM_UNAVAILABLE', { api: 'media/get', errcode: null, message: 'timed out' });
      },
    }, 4);
    const gone = await fetch(signer.sign('gone').url);
    expect(gone.status).toBe(502);
    expect(await gone.json()).toEqual({ code: 'MEDIA_REFUSED_BY_WECOM', message: expect.any(String), wecom_errcode: 40007 });
    const down = await fetch(signer.sign('down').url);
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ code: 'WECOM_UNAVAILABLE' });
  });
});

describe('MediaLinkSigner', () => {
  const make = (now: number, secret = 'a-test-secret-of-enough-length') =>
    new MediaLinkSigner({ baseUrl: 'https://relay.example.com/', secret, ttlMs: 600_000, now: () => now });

  it('accepts its own link until it expires, and nothing altered or signed with another key', () => {
    const link = make(NOW).sign('MEDIA_1');
    expect(link.url.startsWith('https://relay.example.com/media/v1?')).toBe(true);
    expect(link.expiresAt).toBe((NOW + 600_000) / 1000);
    const q = new URL(link.url).searchParams;
    expect(make(NOW + 599_999).verify(q)).toEqual({ mediaId: 'MEDIA_1' });
    expect(make(NOW + 600_000).verify(q)).toEqual({ refused: 'MEDIA_LINK_EXPIRED' });
    expect(make(NOW, 'another-secret-of-enough-length').verify(q)).toEqual({ refused: 'MEDIA_LINK_INVALID' });
    for (const [k, v] of [['id', 'MEDIA_2'], ['exp', String(link.expiresAt + 1)], ['sig', 'x'], ['exp', '1e9']]) {
      const altered = new URLSearchParams(q);
      altered.set(k!, v!);
      expect(make(NOW).verify(altered)).toEqual({ refused: 'MEDIA_LINK_INVALID' });
    }
  });
});

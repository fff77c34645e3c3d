import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generatedMedia, SAMPLE_PNG } from '@wecom-relay/fake-wecom';
import { bindByScan } from './support/binding-steps.js';
import { newUserId, useRelayStack } from './support/relay-stack.js';

const LINK_SECRET = 'media-link-secret-for-e2e-0123456789';
/** The relay inlines at most 64 KiB; WeCom answers 830002 to a whole-file fetch above 5 MiB (the fake's default). */
const INLINE_MAX = 64 * 1024;
const RANGE_CHUNK = 4 * 1024 * 1024;
const stack = useRelayStack({ relayEnv: { MEDIA_MAX_BYTES: String(INLINE_MAX), MEDIA_URL_SECRET: LINK_SECRET } });

/** A link signed the way docs/protocol.md describes it, written independently of the relay's signer. */
function signedLink(base: string, mediaId: string, exp: number, secret = LINK_SECRET): string {
  const sig = createHmac('sha256', secret).update(`${mediaId}\n${exp}`, 'utf8').digest('base64url');
  return `${base}/media/v1?${new URLSearchParams({ id: mediaId, exp: String(exp), sig }).toString()}`;
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Reads a streamed body chunk by chunk into a hash, never holding it whole. */
async function hashOf(res: Response): Promise<{ hash: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    hash.update(chunk);
    bytes += chunk.byteLength;
  }
  return { hash: hash.digest('hex'), bytes };
}

describe('media by reference', () => {
  it('streams a 20 MB video over the inline bound through a signed link, fetched from WeCom in ranges', async () => {
    const s = stack();
    const gw = await s.gateway({ features: ['rich_inbound', 'media_by_reference'] });
    const user = newUserId();
    await bindByScan(s, gw, user);
    const size = 20 * 1024 * 1024;
    const sent = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'file', media_size: size, media_mime: 'video/mp4', media_filename: 'talk.mp4' });

    const frame = await gw.waitFor((f) => f.type === 'inbound' && f.id === sent.msgid, 60_000);
    expect(frame).toMatchObject({ msg_type: 'file', wecom_msg_type: 'file' });
    expect(frame).not.toHaveProperty('media_data');
    expect(frame).not.toHaveProperty('media_error');
    expect(typeof frame.media_url).toBe('string');
    expect(frame.media_url_expires_at).toBeGreaterThan(Date.now() / 1000);
    expect(JSON.stringify(frame).length).toBeLessThan(4096);

    const res = await fetch(String(frame.media_url), { signal: AbortSignal.timeout(120_000) });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('video/mp4');
    expect(res.headers.get('content-length')).toBe(String(size));
    const body = await hashOf(res);
    expect(body.bytes).toBe(size);
    expect(body.hash).toBe(sha256(generatedMedia(size)));

    // WeCom was asked in Range chunks: no answer ever carried the whole file.
    const mediaId = new URL(String(frame.media_url)).searchParams.get('id');
    const downloads = (await s.fake.control.mediaDownloads()).filter((d) => d.media_id === mediaId);
    expect(downloads.filter((d) => d.status === 206).length).toBeGreaterThanOrEqual(size / RANGE_CHUNK);
    expect(Math.max(...downloads.map((d) => d.bytes))).toBeLessThanOrEqual(RANGE_CHUNK);
  }, 180_000);

  it('leaves an old gateway exactly as before: media over the bound is media_error, no link', async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();
    await bindByScan(s, gw, user);
    const sent = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'file', media_size: INLINE_MAX + 1 });
    const frame = await gw.waitFor((f) => f.type === 'inbound' && f.id === sent.msgid);
    expect(frame).toMatchObject({ msg_type: 'unknown', media_error: 'too_large' });
    expect(Object.keys(frame).filter((k) => k.startsWith('media_url'))).toEqual([]);
  });

  it('inlines media under the bound for media_by_reference, and links every file for media_by_reference_always', async () => {
    const s = stack();
    const inline = await s.gateway({ features: ['media_by_reference'] });
    const always = await s.gateway({ features: ['media_by_reference_always'] });
    const [u1, u2] = [newUserId(), newUserId()];
    await bindByScan(s, inline, u1);
    await bindByScan(s, always, u2);
    const m1 = await s.fake.control.customerMessage({ external_userid: u1, msgtype: 'image' });
    const m2 = await s.fake.control.customerMessage({ external_userid: u2, msgtype: 'image' });

    const f1 = await inline.waitFor((f) => f.type === 'inbound' && f.id === m1.msgid);
    expect(f1).toMatchObject({ media_data: SAMPLE_PNG.toString('base64'), media_mime: 'image/png' });
    expect(f1).not.toHaveProperty('media_url');

    const f2 = await always.waitFor((f) => f.type === 'inbound' && f.id === m2.msgid);
    expect(f2).not.toHaveProperty('media_data');
    const res = await fetch(String(f2.media_url), { signal: AbortSignal.timeout(15_000) });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await res.arrayBuffer()).equals(SAMPLE_PNG)).toBe(true);
  });

  it('refuses forged, altered and expired links, and says when WeCom refuses the media', async () => {
    const s = stack();
    const base = s.relay.webhookUrl.replace(/\/webhook$/, '');
    const gw = await s.gateway({ features: ['media_by_reference_always'] });
    const user = newUserId();
    await bindByScan(s, gw, user);
    const sent = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'file', media_size: 1000 });
    const frame = await gw.waitFor((f) => f.type === 'inbound' && f.id === sent.msgid);
    const link = new URL(String(frame.media_url));
    const mediaId = link.searchParams.get('id') ?? '';
    const exp = Number(link.searchParams.get('exp'));

    const answer = async (url: string) => {
      const res = await fetch(url, { signal: AbortSignal.timeout(15_000) });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const stretched = new URL(link);
    stretched.searchParams.set('exp', String(exp + 3600));
    expect(await answer(stretched.toString())).toMatchObject({ status: 403, body: { code: 'MEDIA_LINK_INVALID' } });
    expect(await answer(signedLink(base, mediaId, exp, 'another-secret-that-is-long-enough'))).toMatchObject({
      status: 403,
      body: { code: 'MEDIA_LINK_INVALID' },
    });
    expect(await answer(`${base}/media/v1?id=${mediaId}`)).toMatchObject({ status: 403, body: { code: 'MEDIA_LINK_INVALID' } });
    const past = Math.floor(Date.now() / 1000) - 1;
    expect(await answer(signedLink(base, mediaId, past))).toMatchObject({ status: 410, body: { code: 'MEDIA_LINK_EXPIRED' } });
    const future = Math.floor(Date.now() / 1000) + 600;
    expect(await answer(signedLink(base, 'no-such-media', future))).toMatchObject({
      status: 502,
      body: { code: 'MEDIA_REFUSED_BY_WECOM', wecom_errcode: 40007 },
    });
    // The link as given still works, and the relay's log never shows a signature.
    const ok = await fetch(link, { signal: AbortSignal.timeout(15_000) });
    expect(ok.status).toBe(200);
    expect(Buffer.from(await ok.arrayBuffer()).equals(generatedMedia(1000))).toBe(true);
    expect(s.relay.tail(2000)).not.toContain(link.searchParams.get('sig') ?? '');
    expect(s.relay.tail(2000)).not.toContain(LINK_SECRET);
  });
});

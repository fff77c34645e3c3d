/**
 * Media by reference and the media byte budget, in process: which gateways get a signed link instead of the bytes,
 * what a download is charged against the node's budget (from before it starts until the frame is written), and the
 * frames that carry a link.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { GatewayFeature, QueuedEvent } from '@wecom-relay/shared';
import { MediaInliner, mediaFootprint, type MediaBudget } from '../../src/delivery/media-inliner.js';
import { Semaphore } from '../../src/util/semaphore.js';
import { FakeSession, closeNodes, inbound, settle, sharedStores, silent, startNode, until } from './delivery-harness.js';

afterEach(async () => {
  await closeNodes();
});

const link = (mediaId: string) => ({ url: `https://relay.example/media/${mediaId}`, expiresAt: 1_700_000_000 });

/** A budget that records every reservation, resize and release, by owner. */
function recordingBudget() {
  const events: string[] = [];
  const budget: MediaBudget = {
    reserveMedia: async (owner, bytes) => {
      events.push(`reserve ${owner} ${bytes}`);
      return { resize: (b) => void events.push(`resize ${owner} ${b}`), release: () => void events.push(`release ${owner}`) };
    },
  };
  return { budget, events };
}

function inliner(options: { links?: boolean; budget?: MediaBudget; fail?: Record<string, string> } = {}) {
  const downloads: string[] = [];
  const media = new MediaInliner({
    source: {
      download: async (mediaId) => {
        downloads.push(mediaId);
        const code = options.fail?.[mediaId];
        if (code) throw Object.assign(new Error(code), { code });
        return { data: Buffer.from('abcdef'), mime: 'image/png' };
      },
    },
    maxBytes: 300,
    transfers: new Semaphore(1),
    logger: silent,
    ...(options.budget ? { budget: options.budget } : {}),
    ...(options.links ? { links: { sign: link } } : {}),
  });
  return { media, downloads };
}

describe('media footprint', () => {
  it('counts the bytes and their base64 text twice over (UTF-16), rounded up to whole base64 quads', () => {
    expect(mediaFootprint(0)).toBe(0);
    expect(mediaFootprint(3)).toBe(3 + 8);
    expect(mediaFootprint(4)).toBe(4 + 16);
    expect(mediaFootprint(300)).toBe(300 + 800);
  });
});

describe('media by reference', () => {
  it('media_by_reference_always: a signed link, and nothing downloaded', async () => {
    const { media, downloads } = inliner({ links: true });
    expect(await media.fetch('pic', 's1', ['media_by_reference_always'])).toEqual({ link: link('pic') });
    expect(downloads).toEqual([]);
  });

  it('without a link signer, or without the feature, the media is inlined', async () => {
    const noSigner = inliner();
    const always: GatewayFeature[] = ['media_by_reference_always'];
    expect(await noSigner.media.fetch('pic', 's1', always)).toMatchObject({ mime: 'image/png' });
    const noFeature = inliner({ links: true });
    expect(await noFeature.media.fetch('pic', 's1', [])).toMatchObject({ mime: 'image/png' });
    expect(await noFeature.media.fetch('pic')).toMatchObject({ mime: 'image/png' });
    expect(noFeature.downloads).toEqual(['pic', 'pic']);
  });

  it('media_by_reference: a file over the inline bound arrives as a link; other failures, or no signer, as media_error', async () => {
    const fail = { huge: 'WECOM_MEDIA_TOO_LARGE', gone: 'WECOM_API_ERROR' };
    const byRef: GatewayFeature[] = ['media_by_reference'];
    const withLinks = inliner({ links: true, fail });
    expect(await withLinks.media.fetch('huge', 's1', byRef)).toEqual({ link: link('huge') });
    expect(await withLinks.media.fetch('gone', 's1', byRef)).toEqual({ error: 'unavailable' });
    expect(await withLinks.media.fetch('huge', 's1', [])).toEqual({ error: 'too_large' });
    expect(await inliner({ fail }).media.fetch('huge', 's1', byRef)).toEqual({ error: 'too_large' });
  });
});

describe('media byte budget', () => {
  it('reserves the bound before the download for the socket, then resizes to the real footprint', async () => {
    const { budget, events } = recordingBudget();
    const { media } = inliner({ budget });
    const result = await media.fetch('pic', 's1');
    expect(result).toMatchObject({ base64: Buffer.from('abcdef').toString('base64'), mime: 'image/png' });
    expect(events).toEqual([`reserve s1 ${mediaFootprint(300)}`, `resize s1 ${mediaFootprint(6)}`]);
    (result as { charge: { release(): void } }).charge.release();
    expect(events.at(-1)).toBe('release s1');
  });

  it('reserves nothing without a socket to charge it to, and releases the reservation when the download fails', async () => {
    const { budget, events } = recordingBudget();
    const { media } = inliner({ budget, fail: { gone: 'WECOM_API_ERROR' } });
    expect(await media.fetch('pic')).toEqual({ base64: Buffer.from('abcdef').toString('base64'), mime: 'image/png' });
    expect(events).toEqual([]);
    await media.fetch('gone', 's1');
    expect(events).toEqual([`reserve s1 ${mediaFootprint(300)}`, 'release s1']);
  });

  it('the drain releases a charge once the frame is written', async () => {
    const { budget, events } = recordingBudget();
    const stores = sharedStores();
    const node = await startNode('node-a', stores, { media: inliner({ budget }).media });
    const session = new FakeSession('gw-1');
    session.mode = 'stall';
    await node.attach(session, async () => {});
    await node.enqueue('gw-1', { ...inbound('m1'), msgType: 'image', content: '', mediaId: 'pic' } as QueuedEvent);
    await until(() => session.stalledWrites === 1, 'the write in progress');
    expect(events.filter((e) => e.startsWith('release'))).toEqual([]);
    session.release();
    await until(() => session.frames.length === 1, 'm1');
    await settle();
    expect(events.filter((e) => e.startsWith('release'))).toEqual([`release ${session.sessionId}`]);
  });
});

describe('frames with a media link', () => {
  it('carry the link and its expiry instead of the bytes', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores, { media: inliner({ links: true }).media });
    const session = new FakeSession('gw-1', { features: ['media_by_reference_always'] });
    await node.attach(session, async () => {});
    await node.enqueue('gw-1', { ...inbound('m1'), msgType: 'image', content: '', mediaId: 'pic' } as QueuedEvent);
    await until(() => session.frames.length === 1, 'm1');
    expect(session.frames[0]).toMatchObject({ id: 'm1', mediaUrl: link('pic').url, mediaUrlExpiresAt: link('pic').expiresAt });
    expect(session.frames[0]).not.toHaveProperty('mediaData');
  });
});

import { afterEach, describe, expect, it, vi } from 'vitest';
import { MediaInliner } from '../../src/delivery/media-inliner.js';
import { Semaphore } from '../../src/util/semaphore.js';
import { MemoryBusHub, MemoryDeliveryQueue, MemoryPresenceMap } from '../../src/state/memory/index.js';
import { FakeSession, closeNodes, inbound, settle, sharedStores, silent, startNode, until } from './delivery-harness.js';

afterEach(async () => {
  vi.useRealTimers();
  await closeNodes();
});

/** Media downloads that succeed, fail for good, or fail for a moment, by media id. */
function media(transientFailures: { left: number }) {
  return new MediaInliner({
    source: {
      async download(mediaId: string) {
        if (mediaId === 'huge') throw Object.assign(new Error('too large'), { code: 'WECOM_MEDIA_TOO_LARGE' });
        if (mediaId === 'gone') throw Object.assign(new Error('expired'), { code: 'WECOM_API_ERROR' });
        if (mediaId === 'flaky' && transientFailures.left-- > 0) throw Object.assign(new Error('busy'), { code: 'WECOM_UNAVAILABLE' });
        return { data: Buffer.from(`bytes-of-${mediaId}`), mime: 'image/jpeg' };
      },
    },
    maxBytes: 1024,
    transfers: new Semaphore(2),
    logger: silent,
  });
}

const withMedia = (id: string, mediaId: string) => ({ ...inbound(id), msgType: 'image' as const, content: '', mediaId });

describe('DeliveryService: media', () => {
  it('inlines media as base64 with its type; media that can never be fetched is delivered with mediaError', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores, { media: media({ left: 0 }) });
    const session = new FakeSession('gw-1');
    await node.attach(session, async () => {});
    await node.enqueue('gw-1', withMedia('m1', 'pic'));
    await node.enqueue('gw-1', withMedia('m2', 'huge'));
    await node.enqueue('gw-1', withMedia('m3', 'gone'));
    await until(() => session.frames.length === 3, 'three frames');
    const [ok, huge, gone] = session.frames as unknown as Array<Record<string, unknown>>;
    expect(ok).toMatchObject({ id: 'm1', mediaData: Buffer.from('bytes-of-pic').toString('base64'), mediaMime: 'image/jpeg' });
    expect(ok).not.toHaveProperty('mediaId');
    expect(huge).toMatchObject({ id: 'm2', mediaError: 'too_large' });
    expect(gone).toMatchObject({ id: 'm3', mediaError: 'unavailable' });
    expect(huge).not.toHaveProperty('mediaData');
  });

  it('a download that fails for a moment delivers nothing yet, keeps the event queued, and retries 2 s later', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const stores = sharedStores();
    const node = await startNode('node-a', stores, { media: media({ left: 1 }) });
    const session = new FakeSession('gw-1');
    await node.attach(session, async () => {});
    await node.enqueue('gw-1', withMedia('m1', 'flaky'));
    await node.enqueue('gw-1', inbound('m2'));
    await settle();
    expect(session.frames).toEqual([]);
    expect(await stores.queue.lastAcked('gw-1')).toBeNull();
    await vi.advanceTimersByTimeAsync(1_999);
    expect(session.frames).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await settle();
    expect(session.inboundIds()).toEqual(['m1', 'm2']);
  });
});

describe('DeliveryService: retention', () => {
  it("drops a returning gateway's expired events before serving it", async () => {
    let now = 1_000_000;
    const stores = { queue: new MemoryDeliveryQueue({ now: () => now }), presence: new MemoryPresenceMap(), hub: new MemoryBusHub() };
    const node = await startNode('node-a', stores, { retention: { maxAgeMs: 60_000, maxItems: 100 }, now: () => now });
    await node.enqueue('gw-1', inbound('old'));
    now += 30_000;
    await node.enqueue('gw-1', inbound('fresh'));
    now += 30_001;
    const session = new FakeSession('gw-1');
    await node.attach(session, async () => {});
    await until(() => session.frames.length === 1, 'the fresh event');
    await settle();
    expect(session.inboundIds()).toEqual(['fresh']);
  });

  it('trims an offline gateway to maxItems every 50 appends, keeping the newest', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores, { retention: { maxAgeMs: 3_600_000, maxItems: 10 } });
    for (let i = 1; i <= 49; i++) await node.enqueue('gw-1', inbound(`m${i}`));
    expect(await stores.queue.readAfter('gw-1', null, 100)).toHaveLength(49);
    await node.enqueue('gw-1', inbound('m50'));
    await until(async () => (await stores.queue.readAfter('gw-1', null, 100)).length === 10, 'the trim');
    const kept = await stores.queue.readAfter('gw-1', null, 100);
    expect(kept.map((k) => (k.event as { id: string }).id)).toEqual(Array.from({ length: 10 }, (_, i) => `m${41 + i}`));
  });
});

describe('DeliveryService: lifecycle', () => {
  it('counts its gateways, and close() releases their presence', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores);
    const a = new FakeSession('gw-1');
    const b = new FakeSession('gw-2');
    await node.attach(a, async () => {});
    await node.attach(b, async () => {});
    expect(node.localCount()).toBe(2);
    expect(node.localGatewayIds().sort()).toEqual(['gw-1', 'gw-2']);
    await node.detach(a);
    expect(node.localGatewayIds()).toEqual(['gw-2']);
    expect(await stores.presence.lookup('gw-1')).toBeNull();
    await node.close();
    expect(await stores.presence.lookup('gw-2')).toBeNull();
    // Closed: a late enqueue is stored but not written.
    await node.enqueue('gw-2', inbound('late'));
    await settle();
    expect(b.frames).toEqual([]);
  });
});

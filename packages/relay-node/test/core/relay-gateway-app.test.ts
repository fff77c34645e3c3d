import { afterEach, describe, expect, it } from 'vitest';
import { RelayGatewayApp } from '../../src/app/relay-gateway-app.js';
import { BindingService, type BindingWecom } from '../../src/binding/binding-service.js';
import { ReplyService, MAX_IMAGE_BYTES, type ReplyWecom } from '../../src/outbound/reply-service.js';
import { Semaphore } from '../../src/util/semaphore.js';
import { createMetrics } from '../../src/observability/metrics.js';
import {
  MemoryBindingStore,
  MemoryDedupStore,
  MemoryOutboundLedger,
  MemoryPendingBindingStore,
  MemoryReplyRecordStore,
} from '../../src/state/memory/index.js';
import type { GatewaySession } from '../../src/gateway/gateway-types.js';
import { FakeSession, closeNodes, sharedStores, silent, startNode } from './delivery-harness.js';

const KF = 'wk-test';
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex').toString('base64');

/** WeCom's send and upload APIs, recording every call. */
class RecordingWecom implements ReplyWecom, BindingWecom {
  readonly calls: string[] = [];
  async sendText(req: { toUser: string; content: string }) {
    this.calls.push(`text:${req.toUser}`);
    return { msgid: `w-text-${this.calls.length}` };
  }
  async sendImage(req: { toUser: string; mediaId: string }) {
    this.calls.push(`image:${req.toUser}:${req.mediaId}`);
    return { msgid: `w-image-${this.calls.length}` };
  }
  async upload(_type: 'image', data: Buffer, filename: string, mime: string) {
    this.calls.push(`upload:${filename}:${mime}:${data.length}`);
    return 'media-1';
  }
  async addContactWay() {
    return 'https://work.weixin.qq.com/kf/test';
  }
  async sendTextOnEvent() {
    return { msgid: 'w-event' };
  }
  async transServiceState() {
    return {};
  }
}

/** A gateway socket as the app sees it. */
function gatewaySession(gatewayId: string): FakeSession & GatewaySession {
  return Object.assign(new FakeSession(gatewayId), { dialect: 'plain' as const, remoteAddress: '127.0.0.1' });
}

async function makeApp() {
  const stores = sharedStores();
  const delivery = await startNode('node-a', stores);
  const bindings = new MemoryBindingStore();
  const ledger = new MemoryOutboundLedger();
  const wecom = new RecordingWecom();
  const binding = new BindingService({
    bindings,
    pending: new MemoryPendingBindingStore(),
    ledger,
    dedup: new MemoryDedupStore(),
    wecom,
    delivery,
    openKfid: KF,
    locale: 'en',
    logger: silent,
    metrics: createMetrics('node-a'),
  });
  const replies = new ReplyService({
    bindings,
    ledger,
    records: new MemoryReplyRecordStore(),
    wecom,
    transfers: new Semaphore(2),
    openKfid: KF,
    nodeId: 'node-a',
    rateLimit: { perSecond: 1000, burst: 1000 },
    logger: silent,
    metrics: createMetrics('node-a'),
  });
  const app = new RelayGatewayApp({ authenticate: async () => {}, bindings, binding, replies, delivery, logger: silent });
  return { app, bindings, wecom };
}

afterEach(closeNodes);

describe('RelayGatewayApp: replies go only to users bound to the replying gateway', () => {
  it("refuses image_reply to another gateway's user (NOT_BOUND), uploading and sending nothing", async () => {
    const { app, bindings, wecom } = await makeApp();
    await bindings.bind('u-other', 'gw-2');
    const session = gatewaySession('gw-1');
    const command = { type: 'image_reply' as const, id: 'r1', externalUserId: 'u-other', imageData: PNG, imageMime: 'image/png' };
    await expect(app.onCommand(session, command)).rejects.toMatchObject({ code: 'NOT_BOUND' });
    await expect(app.onCommand(session, { ...command, externalUserId: 'u-nobody' })).rejects.toMatchObject({ code: 'NOT_BOUND' });
    expect(wecom.calls).toEqual([]);
    expect(session.frames).toEqual([]);
  });

  it("refuses a text reply to another gateway's user (NOT_BOUND) the same way", async () => {
    const { app, bindings, wecom } = await makeApp();
    await bindings.bind('u-other', 'gw-2');
    const session = gatewaySession('gw-1');
    await expect(app.onCommand(session, { type: 'reply', id: 'r1', externalUserId: 'u-other', content: 'hi' })).rejects.toMatchObject({
      code: 'NOT_BOUND',
    });
    expect(wecom.calls).toEqual([]);
  });

  it('sends an image to its own user: upload, then send, then an ack with WeCom msgid', async () => {
    const { app, bindings, wecom } = await makeApp();
    await bindings.bind('u1', 'gw-1');
    const session = gatewaySession('gw-1');
    await app.onCommand(session, { type: 'image_reply', id: 'r2', externalUserId: 'u1', imageData: PNG, imageMime: 'IMAGE/PNG' });
    expect(wecom.calls).toEqual(['upload:reply.png:image/png:16', 'image:u1:media-1']);
    expect(session.frames).toEqual([{ type: 'ack', id: 'r2', msgid: 'w-image-2' }]);
    await app.onCommand(session, { type: 'reply', id: 'r3', externalUserId: 'u1', content: 'hello' });
    // A text ack also says how many parts went (one, for a short reply); the image ack is unchanged.
    expect(session.frames.at(-1)).toEqual({ type: 'ack', id: 'r3', msgid: 'w-text-3', parts: 1 });
  });

  it('refuses a bad image (mime, data, size) before anything reaches WeCom', async () => {
    const { app, bindings, wecom } = await makeApp();
    await bindings.bind('u1', 'gw-1');
    const session = gatewaySession('gw-1');
    const base = { type: 'image_reply' as const, id: 'r4', externalUserId: 'u1', imageMime: 'image/png' };
    await expect(app.onCommand(session, { ...base, imageMime: 'image/svg+xml', imageData: PNG })).rejects.toMatchObject({ code: 'IMAGE_INVALID' });
    await expect(app.onCommand(session, { ...base, imageData: 'not base64!' })).rejects.toMatchObject({ code: 'IMAGE_INVALID' });
    await expect(app.onCommand(session, { ...base, imageData: 'AAAA' })).rejects.toMatchObject({ code: 'IMAGE_INVALID' });
    const big = Buffer.alloc(MAX_IMAGE_BYTES + 1, 1).toString('base64');
    await expect(app.onCommand(session, { ...base, imageData: big })).rejects.toMatchObject({ code: 'IMAGE_TOO_LARGE' });
    // Exactly at the limit is allowed; a data: URL prefix is accepted.
    const atLimit = Buffer.alloc(MAX_IMAGE_BYTES, 1).toString('base64');
    await app.onCommand(session, { ...base, imageData: `data:image/png;base64,${atLimit}` });
    expect(wecom.calls).toEqual([`upload:reply.png:image/png:${MAX_IMAGE_BYTES}`, 'image:u1:media-1']);
  });
});

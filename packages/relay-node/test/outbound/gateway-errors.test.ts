import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { RelayGatewayApp } from '../../src/app/relay-gateway-app.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { BindingService, UNBIND_CONCURRENCY, type BindingWecom } from '../../src/binding/binding-service.js';
import { MemoryBindingStore, MemoryDedupStore, MemoryOutboundLedger, MemoryPendingBindingStore } from '../../src/state/memory/index.js';
import type { GatewaySession } from '../../src/gateway/gateway-types.js';
import type { GatewayEvent } from '@wecom-relay/shared';
import { EGRESS_IP, replyKit, wecomRefusal } from './reply-service-kit.js';

const logger = pino({ level: 'silent' });

/** A binding WeCom stub: every call refused with an errmsg naming the egress IP; trans calls counted for concurrency. */
class RefusingBindingWecom implements BindingWecom {
  inFlight = 0;
  maxInFlight = 0;
  transCalls = 0;
  async addContactWay(): Promise<string> {
    throw wecomRefusal(48002, 'kf/add_contact_way');
  }
  async sendText(): Promise<{ msgid: string }> {
    throw wecomRefusal(95001);
  }
  async sendTextOnEvent(): Promise<{ msgid: string }> {
    throw wecomRefusal(40029, 'kf/send_msg_on_event');
  }
  async transServiceState(): Promise<unknown> {
    this.transCalls++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((resolve) => setTimeout(resolve, 2));
    this.inFlight--;
    throw wecomRefusal(95013, 'kf/service_state/trans');
  }
}

async function appKit() {
  const k = await replyKit();
  const wecom = new RefusingBindingWecom();
  const bindings = new MemoryBindingStore();
  const binding = new BindingService({
    bindings,
    pending: new MemoryPendingBindingStore(),
    ledger: new MemoryOutboundLedger(),
    dedup: new MemoryDedupStore(),
    wecom,
    delivery: { enqueue: async () => true },
    openKfid: 'wk-test',
    locale: 'en',
    logger,
    metrics: createMetrics(),
  });
  const app = new RelayGatewayApp({
    authenticate: async () => undefined,
    bindings,
    binding,
    replies: k.service,
    delivery: {} as never,
    logger,
  });
  const sent: GatewayEvent[] = [];
  const session = { gatewayId: 'gw-1', features: [], send: async (e: GatewayEvent) => void sent.push(e) } as unknown as GatewaySession;
  return { ...k, app, session, sent, bindingWecom: wecom, bindingStore: bindings };
}

describe("WeCom's errmsg never reaches a gateway", () => {
  it('create_binding: our code and words, WeCom’s errcode, no errmsg', async () => {
    const k = await appKit();
    const err = await k.app.onCommand(k.session, { type: 'create_binding', gatewayId: 'gw-1' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'WECOM_API_ERROR', details: { wecomErrcode: 48002 } });
    expect((err as Error).message).toBe('WeCom refused kf/add_contact_way (errcode 48002)');
    expect(JSON.stringify(err)).not.toContain(EGRESS_IP);
  });

  it('reply and image_reply: no errmsg in what is thrown for the error frame', async () => {
    const k = await appKit();
    await k.ledger.customerSpoke('wk-test', 'wm-alice', k.clock.now());
    k.wecom.failNext(wecomRefusal(40058), wecomRefusal(40058));
    const reply = await k.app
      .onCommand(k.session, { type: 'reply', id: 'r-1', externalUserId: 'wm-alice', content: 'hi' })
      .catch((e: unknown) => e as Error);
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex').toString('base64');
    const image = await k.app
      .onCommand(k.session, { type: 'image_reply', id: 'i-1', externalUserId: 'wm-alice', imageData: png, imageMime: 'image/png' })
      .catch((e: unknown) => e as Error);
    for (const err of [reply, image]) {
      expect(err).toMatchObject({ code: 'WECOM_API_ERROR', details: { wecomErrcode: 40058 } });
      expect(err?.message).not.toContain(EGRESS_IP);
      expect(err?.message).not.toContain('hint');
    }
  });

  it('unbind_all: acked although WeCom refused every session end, and its calls run at most 4 at once', async () => {
    const k = await appKit();
    for (let i = 0; i < 25; i++) await k.bindingStore.bind(`wm-${i}`, 'gw-1');
    await k.app.onCommand(k.session, { type: 'unbind_all', gatewayId: 'gw-1' });
    expect(k.sent).toEqual([{ type: 'ack', id: 'unbind_all' }]);
    expect(k.bindingWecom.transCalls).toBe(25);
    expect(k.bindingWecom.maxInFlight).toBeLessThanOrEqual(UNBIND_CONCURRENCY);
    expect(k.bindingWecom.maxInFlight).toBeGreaterThan(1);
  });

  it('a split reply is acked with its parts; a reply cut short says what was not sent', async () => {
    const k = await appKit();
    await k.ledger.customerSpoke('wk-test', 'wm-alice', k.clock.now());
    for (let i = 0; i < 4; i++) await k.app.onCommand(k.session, { type: 'reply', id: `s-${i}`, externalUserId: 'wm-alice', content: 'x' });
    expect(k.sent[0]).toEqual({ type: 'ack', id: 's-0', msgid: k.wecom.sent[0]!.msgid, parts: 1 });
    await k.app.onCommand(k.session, { type: 'reply', id: 'long', externalUserId: 'wm-alice', content: '好'.repeat(1500) });
    expect(k.sent[4]).toMatchObject({
      type: 'ack',
      id: 'long',
      msgid: k.wecom.sent[4]!.msgid,
      parts: 1,
      partsTotal: 3,
      unsent: { code: 'SEND_WINDOW_CLOSED', offset: 2046 },
    });
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_ACK_DELAY_MS, MemoryDeliveryStore, type InboundMessage } from '../src/index.js';
import { FakeWebSocket } from './support/fake-websocket.js';
import { acks, flush, inbound, rig } from './support/harness.js';

afterEach(() => FakeWebSocket.reset());

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

async function openRig(options: Parameters<typeof rig>[0] = {}) {
  const r = rig(options);
  void r.gateway.start();
  await flush();
  r.socket().accept();
  await flush();
  return r;
}

describe('RelayGateway delivery to the application', () => {
  it('acknowledges an event only after the handler has finished', async () => {
    const r = await openRig();
    const gate = deferred();
    const seen: string[] = [];
    r.gateway.on('inbound', async (m) => {
      seen.push(m.id);
      await gate.promise;
    });
    r.socket().serverSend(inbound('msg-1', '1-0'));
    await flush();
    expect(seen).toEqual(['msg-1']);
    expect(acks(r.socket()), 'no ack while the handler runs').toEqual([]);
    gate.resolve();
    await flush();
    await r.clock.advance(DEFAULT_ACK_DELAY_MS);
    expect(acks(r.socket())).toEqual(['1-0']);
  });

  it("holds a handled event's delivery_ack back for up to ackDelayMs, so the events after it share one", async () => {
    const r = await openRig();
    r.gateway.on('inbound', () => undefined);
    r.socket().serverSend(inbound('m1', '1-0'));
    await flush();
    await r.clock.advance(DEFAULT_ACK_DELAY_MS / 2);
    expect(acks(r.socket()), 'held back').toEqual([]);
    r.socket().serverSend(inbound('m2', '2-0'));
    await flush();
    await r.clock.advance(DEFAULT_ACK_DELAY_MS / 2 - 1);
    expect(acks(r.socket()), 'still within the delay of the first').toEqual([]);
    await r.clock.advance(1);
    // One frame for both, the delay counted from the first held back.
    expect(acks(r.socket())).toEqual(['2-0']);
    await r.clock.advance(DEFAULT_ACK_DELAY_MS * 2);
    expect(acks(r.socket())).toEqual(['2-0']);
  });

  it('with ackDelayMs 0 acknowledges each run of events as soon as it is handled', async () => {
    const r = await openRig({ ackDelayMs: 0 });
    r.gateway.on('inbound', () => undefined);
    r.socket().serverSend(inbound('m1', '1-0'));
    await flush();
    expect(acks(r.socket())).toEqual(['1-0']);
    r.socket().serverSend(inbound('m2', '2-0'));
    r.socket().serverSend(inbound('m3', '3-0'));
    await flush();
    expect(acks(r.socket())).toEqual(['1-0', '3-0']);
  });

  it('refuses an ackDelayMs outside [0, 60000]', () => {
    for (const ackDelayMs of [-1, Number.NaN, 60_001]) {
      expect(() => rig({ ackDelayMs }), String(ackDelayMs)).toThrow(RangeError);
    }
  });

  it('a lost socket drops the held-back ack: the next hello resumes after it, and it is not sent on the new socket', async () => {
    const r = await openRig();
    r.gateway.on('inbound', () => undefined);
    const first = r.socket();
    first.serverSend(inbound('m1', '4-0'));
    await flush();
    first.serverClose(1006);
    await flush();
    await r.clock.advance(r.states.at(-1)!.delayMs!);
    const second = r.socket();
    expect(second).not.toBe(first);
    second.accept();
    await flush();
    expect(second.frames()[0]).toMatchObject({ type: 'hello', resume_after: '4-0' });
    await r.clock.advance(DEFAULT_ACK_DELAY_MS * 2);
    expect(acks(first)).toEqual([]);
    expect(acks(second)).toEqual([]);
  });

  it('hands events to the handler one at a time, in the order they came', async () => {
    const r = await openRig();
    const log: string[] = [];
    r.gateway.on('inbound', async (m) => {
      log.push(`start ${m.id}`);
      await new Promise<void>((resolve) => setImmediate(resolve));
      log.push(`end ${m.id}`);
    });
    for (let i = 1; i <= 3; i++) r.socket().serverSend(inbound(`m${i}`, `${i}-0`));
    await flush();
    await flush();
    expect(log).toEqual(['start m1', 'end m1', 'start m2', 'end m2', 'start m3', 'end m3']);
    await r.clock.advance(DEFAULT_ACK_DELAY_MS);
    // The three waited together: one cumulative ack, for the last, once all three were handled.
    expect(acks(r.socket())).toEqual(['3-0']);
  });

  it('acknowledges a run of waiting events with one delivery_ack for the last of it, at least every 32 events', async () => {
    const r = await openRig();
    const gate = deferred();
    const handled: string[] = [];
    r.gateway.on('inbound', async (m) => {
      handled.push(m.id);
      if (m.id === 'm0') await gate.promise;
    });
    // m0 holds the processor while 70 more arrive behind it.
    for (let i = 0; i <= 70; i++) r.socket().serverSend(inbound(`m${i}`, `${i + 1}-0`));
    await flush();
    expect(acks(r.socket()), 'nothing is acknowledged before it is handled').toEqual([]);
    gate.resolve();
    for (let i = 0; i < 5; i++) await flush();
    expect(handled).toHaveLength(71);
    // 71 handled events: acks after the 32nd and the 64th at once, and the last once the delay is over.
    expect(acks(r.socket())).toEqual(['32-0', '64-0']);
    await r.clock.advance(DEFAULT_ACK_DELAY_MS);
    expect(acks(r.socket())).toEqual(['32-0', '64-0', '71-0']);
    // An event arriving alone is acknowledged once the delay is over.
    r.socket().serverSend(inbound('m71', '72-0'));
    await flush();
    await r.clock.advance(DEFAULT_ACK_DELAY_MS);
    expect(acks(r.socket())).toEqual(['32-0', '64-0', '71-0', '72-0']);
  });

  it('a handler that throws leaves the event unacknowledged, reconnects, resumes after the last ack and gets it again', async () => {
    const r = await openRig();
    let failNext = true;
    const handled: string[] = [];
    const errors: unknown[] = [];
    r.gateway.on('handler_error', (err, event, redelivered) => {
      errors.push([String(err), event.type, redelivered]);
    });
    r.gateway.on('inbound', (m) => {
      if (m.id === 'm2' && failNext) {
        failNext = false;
        throw new Error('boom');
      }
      handled.push(m.id);
    });
    const first = r.socket();
    first.serverSend(inbound('m1', '1-0'));
    first.serverSend(inbound('m2', '2-0'));
    first.serverSend(inbound('m3', '3-0'));
    await flush();
    expect(handled).toEqual(['m1']);
    expect(acks(first), 'm2 and what follows it stay unacknowledged').toEqual(['1-0']);
    expect(first.closedByClient?.code).toBe(4000);
    expect(errors).toEqual([['Error: boom', 'inbound', true]]);
    expect(r.gateway.state).toBe('reconnecting');

    await r.clock.advance(r.states.at(-1)!.delayMs!);
    const second = r.socket();
    expect(second).not.toBe(first);
    second.accept();
    expect(second.frames()[0]).toMatchObject({ type: 'hello', delivery: 'ack', resume_after: '1-0' });
    // The relay sends everything after 1-0 again.
    second.serverSend(inbound('m2', '2-0'));
    second.serverSend(inbound('m3', '3-0'));
    await flush();
    expect(handled).toEqual(['m1', 'm2', 'm3']);
    await r.clock.advance(DEFAULT_ACK_DELAY_MS);
    expect(acks(second)).toEqual(['3-0']);
  });

  it('resumes after the last acknowledged id on every reconnect (resume_after from the store)', async () => {
    const store = new MemoryDeliveryStore();
    const r = await openRig({ store });
    r.gateway.on('inbound', () => undefined);
    r.socket().serverSend(inbound('m1', '7-0'));
    await flush();
    r.socket().serverClose(1006);
    await flush();
    await r.clock.advance(r.states.at(-1)!.delayMs!);
    r.socket().accept();
    expect(r.socket().frames()[0]).toMatchObject({ resume_after: '7-0' });
    expect(await store.lastAcked('gw-1')).toBe('7-0');
  });

  it('drops a repeat by delivery id and by WeCom msgid, and acknowledges it again', async () => {
    const r = await openRig();
    const handled: string[] = [];
    r.gateway.on('inbound', (m) => {
      handled.push(`${m.id}@${m.deliveryId}`);
    });
    r.socket().serverSend(inbound('m1', '1-0'));
    r.socket().serverSend(inbound('m1', '1-0'));
    // The same WeCom message under another delivery id (queued twice).
    r.socket().serverSend(inbound('m1', '5-0'));
    r.socket().serverSend(inbound('m2', '6-0'));
    await flush();
    expect(handled).toEqual(['m1@1-0', 'm2@6-0']);
    await r.clock.advance(DEFAULT_ACK_DELAY_MS);
    // Acknowledged together with what came after them (acks are cumulative).
    expect(acks(r.socket())).toEqual(['6-0']);
    expect(r.gateway.duplicatesDropped).toBe(2);
    // A repeat arriving alone (the relay missed the ack) is acknowledged again.
    r.socket().serverSend(inbound('m2', '6-0'));
    await flush();
    await r.clock.advance(DEFAULT_ACK_DELAY_MS);
    expect(acks(r.socket())).toEqual(['6-0', '6-0']);
    expect(r.gateway.duplicatesDropped).toBe(3);
  });

  it('drops a repeat of an event without a msgid by its delivery id, and never a new WeCom message for its delivery id alone', async () => {
    const r = await openRig();
    const handled: string[] = [];
    r.gateway.on('binding_resolved', (e) => {
      handled.push(`${e.externalUserId}@${e.deliveryId}`);
    });
    r.gateway.on('inbound', (m) => {
      handled.push(`${m.id}@${m.deliveryId}`);
    });
    r.socket().serverSend({ type: 'binding_resolved', external_user_id: 'wm-a', gateway_id: 'gw-1', delivery_id: '1-0' });
    r.socket().serverSend({ type: 'binding_resolved', external_user_id: 'wm-a', gateway_id: 'gw-1', delivery_id: '1-0' });
    r.socket().serverSend(inbound('m1', '2-0'));
    // Another message under a delivery id seen before (a relay whose queue ids started over): it is not the same event.
    r.socket().serverSend(inbound('m9', '2-0'));
    await flush();
    expect(handled).toEqual(['wm-a@1-0', 'm1@2-0', 'm9@2-0']);
    expect(r.gateway.duplicatesDropped).toBe(1);
  });

  it('ack() inside the handler acknowledges at once, for the events held back before it too', async () => {
    const r = await openRig();
    r.gateway.on('inbound', async (m, delivery) => {
      if (m.id === 'm2') await delivery.ack();
    });
    r.socket().serverSend(inbound('m1', '1-0'));
    await flush();
    expect(acks(r.socket()), 'm1 held back').toEqual([]);
    r.socket().serverSend(inbound('m2', '2-0'));
    await flush();
    expect(acks(r.socket())).toEqual(['2-0']);
    await r.clock.advance(DEFAULT_ACK_DELAY_MS * 2);
    expect(acks(r.socket()), 'the held-back 1-0 went with 2-0, not after it').toEqual(['2-0']);
  });

  it('ack() inside the handler acknowledges at once; a later failure does not bring the event back', async () => {
    const r = await openRig();
    const errors: boolean[] = [];
    r.gateway.on('handler_error', (_err, _event, redelivered) => {
      errors.push(redelivered);
    });
    r.gateway.on('inbound', async (_m, delivery) => {
      await delivery.ack();
      expect(acks(r.socket())).toEqual(['1-0']);
      throw new Error('after ack');
    });
    r.socket().serverSend(inbound('m1', '1-0'));
    await flush();
    expect(errors).toEqual([false]);
    expect(r.gateway.state).toBe('open');
    expect(r.socket().closedByClient).toBeNull();
  });

  it('a store that cannot record leaves the event unacknowledged for redelivery', async () => {
    const store = new MemoryDeliveryStore();
    let broken = true;
    const original = store.record.bind(store);
    store.record = async (...args) => {
      if (broken) throw new Error('disk full');
      return original(...args);
    };
    const r = await openRig({ store });
    r.gateway.on('inbound', () => undefined);
    r.socket().serverSend(inbound('m1', '1-0'));
    await flush();
    expect(acks(r.socket())).toEqual([]);
    expect(r.gateway.state).toBe('reconnecting');
    broken = false;
  });

  it('delivers binding_resolved and send_failed through the same acknowledged path, typed', async () => {
    const r = await openRig();
    const got: unknown[] = [];
    r.gateway.on('binding_resolved', (e) => {
      got.push(e);
    });
    r.gateway.on('send_failed', (e) => {
      got.push(e);
    });
    r.gateway.on('binding_cleared', (e) => {
      got.push(e);
    });
    r.socket().serverSend({ type: 'binding_resolved', external_user_id: 'wm-a', gateway_id: 'gw-1', delivery_id: '1-0' });
    r.socket().serverSend({
      type: 'send_failed',
      id: 'r-1',
      external_user_id: 'wm-a',
      msgid: 'wx-1',
      fail_type: 6,
      reason: 'over the limit',
      delivery_id: '2-0',
    });
    r.socket().serverSend({ type: 'binding_cleared', gateway_id: 'gw-1' });
    await flush();
    await r.clock.advance(DEFAULT_ACK_DELAY_MS);
    // binding_cleared is not a queued delivery, so its place relative to the queued events is not promised.
    expect(got).toHaveLength(3);
    expect(got).toEqual(
      expect.arrayContaining([
        { type: 'binding_cleared', gatewayId: 'gw-1' },
        { type: 'binding_resolved', externalUserId: 'wm-a', gatewayId: 'gw-1', deliveryId: '1-0' },
        { type: 'send_failed', id: 'r-1', externalUserId: 'wm-a', msgid: 'wx-1', failType: 6, reason: 'over the limit', deliveryId: '2-0' },
      ]),
    );
    expect(acks(r.socket())).toEqual(['2-0']);
  });

  it('normalizes cs frames (customer_id, cs_ names) to the same typed events', async () => {
    const r = await openRig({ dialect: 'cs' });
    const got: InboundMessage[] = [];
    r.gateway.on('inbound', (m) => {
      got.push(m);
    });
    r.socket().serverSend({ ...inbound('m1', '1-0'), type: 'cs_inbound', customer_id: 'wm-cs', external_user_id: undefined, platform: 'wecom' });
    await flush();
    await r.clock.advance(DEFAULT_ACK_DELAY_MS);
    expect(got[0]).toMatchObject({ id: 'm1', externalUserId: 'wm-cs', deliveryId: '1-0' });
    expect(r.socket().frames().at(-1)).toEqual({ type: 'cs_delivery_ack', delivery_id: '1-0' });
  });

  it('close() lets the running handler finish and acknowledges it, and starts nothing after it', async () => {
    const r = await openRig();
    const gate = deferred();
    const handled: string[] = [];
    r.gateway.on('inbound', async (m) => {
      handled.push(m.id);
      await gate.promise;
    });
    r.socket().serverSend(inbound('m1', '1-0'));
    r.socket().serverSend(inbound('m2', '2-0'));
    await flush();
    const closing = r.gateway.close();
    await flush();
    expect(r.socket().closedByClient, 'still draining').toBeNull();
    gate.resolve();
    await closing;
    expect(handled).toEqual(['m1']);
    expect(acks(r.socket())).toEqual(['1-0']);
    expect(r.socket().closedByClient?.code).toBe(1000);
  });

  it('does not buffer without bound: past its queue limit it reconnects instead', async () => {
    const r = await openRig();
    const gate = deferred();
    r.gateway.on('inbound', () => gate.promise);
    for (let i = 0; i <= 1_001; i++) r.socket().serverSend(inbound(`m${i}`, `${i}-0`));
    await flush();
    expect(r.socket().closedByClient?.code).toBe(4000);
    gate.resolve();
  });

  it('the binding replay after hello (no delivery ids) may exceed that limit: a gateway with many bindings still connects', async () => {
    const r = await openRig();
    const users: string[] = [];
    r.gateway.on('binding_resolved', (e) => {
      users.push(e.externalUserId);
    });
    for (let i = 0; i < 3_000; i++) r.socket().serverSend({ type: 'binding_resolved', external_user_id: `wm-${i}`, gateway_id: 'gw-1' });
    await flush();
    expect(r.socket().closedByClient).toBeNull();
    expect(users).toHaveLength(3_000);
    expect(acks(r.socket())).toEqual([]);
  });

  it('a handler that keeps failing on the same event reconnects ever more slowly, even though each hello succeeds', async () => {
    const r = await openRig({ reconnect: { initialDelayMs: 100, maxDelayMs: 10_000, factor: 2, jitter: 0.5 } });
    r.gateway.on('inbound', () => {
      throw new Error('poison');
    });
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      r.socket().serverSend(inbound('poison', '1-0'));
      await flush();
      const delay = r.states.at(-1)!.delayMs!;
      delays.push(delay);
      await r.clock.advance(delay);
      r.socket().accept();
      await flush();
    }
    expect(delays).toEqual([200, 400, 800, 1600]);
  });

  it('close() gives up on a handler that does not finish within drainTimeoutMs', async () => {
    const r = await openRig({ drainTimeoutMs: 3_000 });
    r.gateway.on('inbound', () => new Promise<void>(() => undefined));
    r.socket().serverSend(inbound('m1', '1-0'));
    await flush();
    let closed = false;
    void r.gateway.close().then(() => {
      closed = true;
    });
    await r.clock.advance(2_999);
    expect(closed).toBe(false);
    await r.clock.advance(1);
    expect(closed).toBe(true);
    expect(acks(r.socket())).toEqual([]);
    expect(r.socket().closedByClient?.code).toBe(1000);
  });
});

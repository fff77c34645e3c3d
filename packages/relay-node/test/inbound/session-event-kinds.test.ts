import type { KfMessage } from '@wecom-relay/shared';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { DeliveryService } from '../../src/delivery/delivery-service.js';
import { featureRequiredFor } from '../../src/delivery/feature-gates.js';
import { InboundDispatcher } from '../../src/inbound/inbound-dispatcher.js';
import { SessionEventRouter } from '../../src/inbound/session-event-router.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { MemoryBindingStore, MemoryDedupStore, MemoryDeliveryQueue, MemoryOutboundLedger } from '../../src/state/memory/index.js';

/** The dispatcher with session events over real memory stores; `queued(gw)` is what a gateway would be sent. */
function fixture() {
  const logger = pino({ level: 'silent' });
  const metrics = createMetrics('test-node');
  const bindings = new MemoryBindingStore();
  const queue = new MemoryDeliveryQueue({ now: Date.now });
  const delivery = {
    enqueue: async (gatewayId: string, event: Parameters<MemoryDeliveryQueue['append']>[1], opts?: { dedupKey?: string }) =>
      (await queue.append(gatewayId, event, opts)) !== null,
  } as unknown as DeliveryService;
  const dispatcher = new InboundDispatcher({
    bindings,
    ledger: new MemoryOutboundLedger({ now: Date.now }),
    binding: {} as never,
    delivery,
    dedup: new MemoryDedupStore({ now: Date.now }),
    logger,
    metrics,
    firstPullMaxAgeMs: 10 * 60_000,
    sessionEvents: new SessionEventRouter({ bindings, delivery, logger }),
  });
  const event = (msgid: string, fields: Record<string, unknown>): KfMessage =>
    ({ msgid, send_time: 1_700_000_000, origin: 4, msgtype: 'event', event: { open_kfid: 'wk', ...fields } }) as KfMessage;
  return {
    bindings,
    metrics,
    dispatch: (m: KfMessage) => dispatcher.dispatch(m, { firstPull: false, openKfid: 'wk' }),
    event,
    queued: async (gw: string) => (await queue.readAfter(gw, null, 100)).map((i) => i.event),
  };
}

describe('reject_customer_msg_switch_change and servicer_status_change', () => {
  it("the reject switch goes to the customer's gateway as customer_rejected, gated by session_events, once per msgid", async () => {
    const f = fixture();
    await f.bindings.bind('wmA', 'gw-1');
    const on = f.event('m1', { event_type: 'reject_customer_msg_switch_change', servicer_userid: 'li', external_userid: 'wmA', reject_switch: 1 });
    await f.dispatch(on);
    await f.dispatch(on);
    await f.dispatch(f.event('m2', { event_type: 'reject_customer_msg_switch_change', external_userid: 'wmA', reject_switch: 0 }));
    const queued = await f.queued('gw-1');
    expect(queued).toEqual([
      { type: 'customer_rejected', id: 'm1', externalUserId: 'wmA', timestamp: 1_700_000_000, rejected: true, servicerUserId: 'li' },
      { type: 'customer_rejected', id: 'm2', externalUserId: 'wmA', timestamp: 1_700_000_000, rejected: false },
    ]);
    expect(featureRequiredFor(queued[0]!)).toBe('session_events');
  });

  it('a reject switch that is neither 1 nor 0, or names no customer, or an unbound one, is not delivered', async () => {
    const f = fixture();
    await f.bindings.bind('wmA', 'gw-1');
    await f.dispatch(f.event('m1', { event_type: 'reject_customer_msg_switch_change', external_userid: 'wmA', reject_switch: 2 }));
    await f.dispatch(f.event('m2', { event_type: 'reject_customer_msg_switch_change', external_userid: 'wmA' }));
    await f.dispatch(f.event('m3', { event_type: 'reject_customer_msg_switch_change', reject_switch: 1 }));
    await f.dispatch(f.event('m4', { event_type: 'reject_customer_msg_switch_change', external_userid: 'wmZ', reject_switch: 1 }));
    expect(await f.queued('gw-1')).toEqual([]);
  });

  it("a servicer's status is counted by status and stop_type, never queued; surprises fold into `other`", async () => {
    const f = fixture();
    await f.bindings.bind('wmA', 'gw-1');
    await f.dispatch(f.event('m1', { event_type: 'servicer_status_change', servicer_userid: 'li', status: 2, stop_type: 1 }));
    await f.dispatch(f.event('m2', { event_type: 'servicer_status_change', servicer_userid: 'li', status: 1 }));
    await f.dispatch(f.event('m3', { event_type: 'servicer_status_change', servicer_userid: 'li', status: 9, stop_type: 7 }));
    const { values } = await f.metrics.servicerStatusChanges.get();
    expect(values.map((v) => [v.labels, v.value])).toEqual([
      [{ status: '2', stop_type: '1' }, 1],
      [{ status: '1', stop_type: '' }, 1],
      [{ status: 'other', stop_type: 'other' }, 1],
    ]);
    expect(await f.queued('gw-1')).toEqual([]);
  });
});

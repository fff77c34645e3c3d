import type { QueuedEvent } from '@wecom-relay/shared';
import { pino, type Logger } from 'pino';
import { BindingService, DEFAULT_BINDING_LIMITS, type BindingLimits, type BindingWecom } from '../../src/binding/binding-service.js';
import { InboundDispatcher } from '../../src/inbound/inbound-dispatcher.js';
import { createMetrics } from '../../src/observability/metrics.js';
import type { DedupStore } from '../../src/state/dedup-store.js';
import type { DeliveryQueue } from '../../src/state/delivery-queue.js';
import type { BindingStore } from '../../src/state/binding-store.js';
import type { OutboundLedger } from '../../src/state/outbound-ledger.js';
import {
  MemoryBindingStore,
  MemoryDedupStore,
  MemoryDeliveryQueue,
  MemoryOutboundLedger,
  MemoryPendingBindingStore,
} from '../../src/state/memory/index.js';

/** Stand-in for the kf calls the binding flow makes: records what would reach WeCom users. */
export class RecordingKf implements BindingWecom {
  readonly texts: Array<{ toUser: string; content: string; openKfid?: string }> = [];
  /** Sessions ended through kf/service_state/trans, with the account each was ended on. */
  readonly ended: Array<{ openKfid: string; externalUserId: string }> = [];
  private sent = 0;
  async addContactWay(req: { openKfid: string }): Promise<string> {
    // The first (default) account's link as before; any other names its account, so a test can tell them apart.
    return `https://work.weixin.qq.com/kf/${req.openKfid === 'wk-test' ? 'contact' : req.openKfid}?enc_scene=TEST`;
  }
  async sendText(req: { toUser: string; content: string; openKfid?: string }): Promise<{ msgid: string }> {
    this.texts.push({ toUser: req.toUser, content: req.content, ...(req.openKfid ? { openKfid: req.openKfid } : {}) });
    return { msgid: `sent-${++this.sent}` };
  }
  async sendTextOnEvent(): Promise<{ msgid: string }> {
    throw new Error('no welcome codes in these tests');
  }
  async transServiceState(req: { openKfid: string; externalUserId: string }): Promise<unknown> {
    this.ended.push({ openKfid: req.openKfid, externalUserId: req.externalUserId });
    return {};
  }
}

/** A clock the test moves by hand. */
export function manualClock(start = 1_700_000_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

/**
 * The binding flow and the dispatcher over memory stores sharing one hand-moved clock. Queues are real
 * (MemoryDeliveryQueue, with its per-gateway dedup); `queued(gw)` is what a gateway would be sent.
 */
export function bindingFixture(
  options: {
    limits?: Partial<BindingLimits>;
    randomToken?: (bytes: number) => string;
    logger?: Logger;
    openKfids?: string[];
    /** Other stores for the decisions and queues, and optionally bindings and windows (e.g. on a real Redis); memory ones by default. */
    stores?: { dedup: DedupStore; queue: DeliveryQueue; bindings?: BindingStore; ledger?: OutboundLedger };
  } = {},
) {
  const clock = manualClock();
  const metrics = createMetrics('test-node');
  const logger = options.logger ?? pino({ level: 'silent' });
  const bindings = options.stores?.bindings ?? new MemoryBindingStore();
  const pending = new MemoryPendingBindingStore({ now: clock.now });
  const dedup = options.stores?.dedup ?? new MemoryDedupStore({ now: clock.now });
  const queue = options.stores?.queue ?? new MemoryDeliveryQueue({ now: clock.now });
  const ledger = options.stores?.ledger ?? new MemoryOutboundLedger({ now: clock.now });
  const kf = new RecordingKf();
  const delivery = {
    enqueue: async (gatewayId: string, event: QueuedEvent, opts?: { dedupKey?: string }) => (await queue.append(gatewayId, event, opts)) !== null,
    // No node holds a gateway here: nothing to wake.
    wake: async (_gatewayId: string) => undefined,
  };
  const binding = new BindingService({
    bindings,
    pending,
    ledger,
    dedup,
    wecom: kf,
    delivery,
    openKfid: options.openKfids?.[0] ?? 'wk-test',
    ...(options.openKfids ? { openKfids: options.openKfids } : {}),
    locale: 'en',
    logger,
    metrics,
    limits: { ...DEFAULT_BINDING_LIMITS, ...options.limits },
    ...(options.randomToken ? { randomToken: options.randomToken } : {}),
  });
  const dispatcher = new InboundDispatcher({
    bindings,
    ledger,
    binding,
    delivery,
    dedup,
    logger,
    metrics,
    firstPullMaxAgeMs: 10 * 60_000,
    now: clock.now,
  });
  return {
    clock,
    metrics,
    logger,
    queue,
    ledger,
    bindings,
    pending,
    dedup,
    kf,
    binding,
    dispatcher,
    delivery,
    /** Everything queued for a gateway, oldest first. */
    async queued(gatewayId: string): Promise<QueuedEvent[]> {
      return (await queue.readAfter(gatewayId, null, 10_000)).map((item) => item.event);
    },
    /** A counter's value for one label set. */
    async count(metric: 'bindingTokens' | 'bindingAttempts' | 'messagesIn', labels: Record<string, string>): Promise<number> {
      const { values } = await metrics[metric].get();
      return values.filter((v) => Object.entries(labels).every(([k, want]) => (v.labels as Record<string, string | number | undefined>)[k] === want)).reduce((n, v) => n + v.value, 0);
    },
  };
}

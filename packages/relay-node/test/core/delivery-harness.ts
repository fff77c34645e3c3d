/** In-process pieces for DeliveryService tests: a scriptable session, a node on memory stores, a bounded wait. */
import { pino } from 'pino';
import type { DeliveryMode, GatewayEvent, GatewayFeature, QueuedEvent } from '@wecom-relay/shared';
import { AckWindow } from '../../src/delivery/ack-window.js';
import { DeliveryService, type DeliveryServiceOptions } from '../../src/delivery/delivery-service.js';
import type { DeliverySession } from '../../src/delivery/delivery-session.js';
import type { LocalGateway } from '../../src/delivery/local-gateways.js';
import { MediaInliner } from '../../src/delivery/media-inliner.js';
import { Semaphore } from '../../src/util/semaphore.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { MemoryBusHub, MemoryDeliveryQueue, MemoryNodeBus, MemoryPresenceMap } from '../../src/state/memory/index.js';
import type { DeliveryQueue } from '../../src/state/delivery-queue.js';
import type { PresenceMap } from '../../src/state/presence-map.js';

export const silent = pino({ level: 'silent' });

/** Polls until the condition holds, yielding to timers and I/O; throws after limitMs. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, limitMs = 5_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Lets every pending microtask and immediate run (bus messages are delivered on setImmediate). */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}

let sessions = 0;

/** A gateway socket whose writes succeed, fail or stall on demand. */
export class FakeSession implements DeliverySession {
  readonly sessionId = `s${++sessions}`;
  readonly openedAt = 0;
  readonly frames: Array<GatewayEvent & { deliveryId?: string }> = [];
  closed: { code: number; reason: string } | null = null;
  /** ok: written; reject: the write fails and the socket closes; stall: the write never completes until released. */
  mode: 'ok' | 'reject' | 'stall' = 'ok';
  private readonly stalled: Array<() => void> = [];
  readonly delivery: DeliveryMode;
  readonly features: readonly GatewayFeature[];
  readonly resumeAfter: string | undefined;

  constructor(
    readonly gatewayId: string,
    options: { delivery?: DeliveryMode; features?: GatewayFeature[]; resumeAfter?: string } = {},
  ) {
    this.delivery = options.delivery ?? 'legacy';
    this.features = options.features ?? [];
    this.resumeAfter = options.resumeAfter;
  }

  get isOpen(): boolean {
    return this.closed === null;
  }

  async send(event: GatewayEvent): Promise<void> {
    if (!this.isOpen) throw new Error('session closed');
    if (this.mode === 'reject') {
      this.close(1006, 'write failed');
      throw new Error('write failed');
    }
    if (this.mode === 'stall') await new Promise<void>((resolve) => this.stalled.push(resolve));
    this.frames.push(structuredClone(event));
  }

  /** Completes every stalled write. */
  release(): void {
    for (const resolve of this.stalled.splice(0)) resolve();
  }

  get stalledWrites(): number {
    return this.stalled.length;
  }

  close(code: number, reason: string): void {
    this.closed ??= { code, reason };
  }

  /** Ids of the inbound messages written, in order. */
  inboundIds(): string[] {
    return this.frames.filter((f) => f.type === 'inbound').map((f) => (f as { id: string }).id);
  }
}

/** An inbound text event with no media. */
export function inbound(id: string, user = 'u1'): QueuedEvent {
  return { type: 'inbound', id, externalUserId: user, msgType: 'text', content: id, timestamp: 1, wecomMsgType: 'text' };
}

/** A send_failed event (opt-in for gateways). */
export function sendFailed(id: string): QueuedEvent {
  return { type: 'send_failed', id, externalUserId: 'u1', msgid: `w-${id}`, failType: 4, reason: 'session expired' };
}

/** Stores shared by the nodes of one in-process "cluster". */
export interface SharedStores {
  queue: DeliveryQueue;
  presence: PresenceMap;
  hub: MemoryBusHub;
}

export function sharedStores(): SharedStores {
  return { queue: new MemoryDeliveryQueue(), presence: new MemoryPresenceMap(), hub: new MemoryBusHub() };
}

const services: DeliveryService[] = [];

/** A started DeliveryService for one node; timers are long unless the test asks otherwise. */
export async function startNode(
  nodeId: string,
  stores: SharedStores,
  overrides: Partial<DeliveryServiceOptions> = {},
): Promise<DeliveryService> {
  const media = new MediaInliner({
    source: { download: async () => ({ data: Buffer.from('img'), mime: 'image/png' }) },
    maxBytes: 1024,
    transfers: new Semaphore(2),
    logger: silent,
  });
  const service = new DeliveryService({
    nodeId,
    queue: stores.queue,
    presence: stores.presence,
    bus: new MemoryNodeBus({ hub: stores.hub }),
    media,
    logger: silent,
    metrics: createMetrics(nodeId),
    retention: { maxAgeMs: 3_600_000, maxItems: 1_000 },
    heartbeatMs: 3_600_000,
    sweepCallsPerSecond: 0,
    ...overrides,
  });
  await service.start();
  services.push(service);
  return service;
}

/** Closes every service started by startNode. */
export async function closeNodes(): Promise<void> {
  await Promise.all(services.splice(0).map((s) => s.close()));
}

/** A local gateway entry as the engine keeps one: attached, ready, nothing drained or waiting yet. */
export function localEntry(session: DeliverySession, generation = 1): LocalGateway {
  return {
    session,
    generation,
    pointer: null,
    window: new AckWindow(),
    replayed: undefined,
    ready: true,
    draining: false,
    again: false,
    waitingForRoom: false,
    unwrittenCount: 0,
    unwrittenOldestAt: null,
    offered: null,
  };
}

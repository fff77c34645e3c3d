import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { GatewayEvent, QueuedEvent } from '@wecom-relay/shared';
import { DeliveryService } from '../../src/delivery/delivery-service.js';
import type { DeliverySession } from '../../src/delivery/delivery-session.js';
import type { MediaInliner } from '../../src/delivery/media-inliner.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { MemoryDeliveryQueue, MemoryNodeBus, MemoryPresenceMap } from '../../src/state/memory/index.js';

/** A gateway socket that records what it is sent; `hold` pauses the write of one event until released. */
class RecordingSession implements DeliverySession {
  readonly gatewayId = 'gw-1';
  readonly sessionId = 's-1';
  readonly delivery = 'ack' as const;
  readonly resumeAfter = undefined;
  readonly features = [];
  readonly openedAt = Date.now();
  readonly dialect = 'plain';
  isOpen = true;
  readonly frames: Array<GatewayEvent & { deliveryId?: string }> = [];
  private held: { id: string; release: Promise<void>; reached: () => void } | null = null;

  /** Resolves once the event with this msgid is being written; the write completes when `release` resolves. */
  hold(msgid: string, release: Promise<void>): Promise<void> {
    return new Promise((reached) => {
      this.held = { id: msgid, release, reached };
    });
  }

  async send(event: GatewayEvent & { deliveryId?: string }): Promise<void> {
    this.frames.push(event);
    const held = this.held;
    if (held && event.type === 'inbound' && event.id === held.id) {
      this.held = null;
      held.reached();
      await held.release;
    }
  }

  close(): void {
    this.isOpen = false;
  }
}

const inbound = (i: number): QueuedEvent =>
  ({ type: 'inbound', id: `m${i}`, externalUserId: 'wm-1', msgType: 'text', content: `#${i}`, timestamp: 1, wecomMsgType: 'text' }) as QueuedEvent;

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('redeliver from an id (ack mode)', () => {
  it('asked in the middle of a batch, it resends everything after the id once more, in order, losing nothing', async () => {
    const queue = new MemoryDeliveryQueue();
    const service = new DeliveryService({
      nodeId: 'node-a',
      queue,
      presence: new MemoryPresenceMap(),
      bus: new MemoryNodeBus(),
      media: {} as MediaInliner,
      logger: pino({ level: 'silent' }),
      metrics: createMetrics('node-a'),
      retention: { maxAgeMs: 3_600_000, maxItems: 1_000 },
    });
    const ids: string[] = [];
    for (let i = 1; i <= 8; i++) ids.push(await queue.append('gw-1', inbound(i)));
    const session = new RecordingSession();
    let release!: () => void;
    const paused = session.hold('m3', new Promise<void>((r) => (release = r)));
    await service.attach(session, async () => []);
    await paused; // m1, m2 written; m3 being written
    expect(await service.redeliver('gw-1', ids[0]!)).toEqual({ result: 'scheduled', after: ids[0] });
    release();
    const sent = () => session.frames.map((f) => (f as { deliveryId?: string }).deliveryId);
    await until('m2..m8 again', () => sent().filter((id) => id === ids[7]).length >= 1 && sent().length >= 10);
    // m1..m3 as first written, then from m2 on again: m2 and m3 are not left acknowledged-but-unsent.
    expect(sent()).toEqual([ids[0], ids[1], ids[2], ...ids.slice(1)]);

    // The gateway confirms the last one; nothing waits, and an id it was never sent is refused.
    await service.acknowledge(session, ids[7]!);
    expect(await queue.backlog('gw-1')).toEqual({ items: 0, oldestEnqueuedAt: null });
    expect(await service.redeliver('gw-1', 'not-an-id')).toEqual({ result: 'not_waiting' });
    expect(await service.redeliver('gw-other', null)).toEqual({ result: 'not_connected' });
    await service.close();
  });
});

import type { Logger } from 'pino';
import type { GatewayEvent, GatewayFeature, QueuedEvent } from '@wecom-relay/shared';
import type { RelayMetrics } from '../observability/metrics.js';
import type { AppendedRun, DeliveryQueue, QueuedItem } from '../state/delivery-queue.js';
import { offerRun, takeFromRun } from './appended-run.js';
import type { CustomerProfileCache } from './customer-profiles.js';
import { featureRequiredFor, shapeMessage, wantsProfile, withProfile, type ShapedMessage } from './feature-gates.js';
import type { LocalGateway, LocalGateways } from './local-gateways.js';
import { TransientMediaError, type MediaCharge, type MediaInliner } from './media-inliner.js';

/** Items read from a queue at once. */
const BATCH = 50;
/** Delay before a drain that failed (WeCom media, Redis) is tried again. */
const DRAIN_RETRY_MS = 2_000;

/** What {@link GatewayDrain.redeliver} did. */
export type RedeliverOutcome =
  | { result: 'scheduled'; after: string | null }
  /** The gateway holds no socket on this node. */
  | { result: 'not_connected' }
  /** A gateway without `delivery: ack` confirms nothing: what was written counts as delivered and is gone. */
  | { result: 'not_ack_mode' }
  /** The id is neither the last acknowledged one nor one sent and still unconfirmed. */
  | { result: 'not_waiting' };

/**
 * Writes a local gateway's queue to its socket, in order, one drain at a time per gateway: reads after the
 * pointer, skips what the gateway did not ask for, inlines media, and records progress - legacy gateways by
 * acknowledging what was written, ack-mode gateways through their ack window.
 */
export class GatewayDrain {
  private closed = false;

  constructor(
    private readonly o: {
      queue: DeliveryQueue;
      local: LocalGateways;
      media: MediaInliner;
      profiles?: CustomerProfileCache | undefined;
      metrics: RelayMetrics;
      logger: Logger;
      now: () => number;
      ackWindow: number;
    },
  ) {}

  /** Stops starting drains (running ones end at their next check). */
  close(): void {
    this.closed = true;
  }

  /** Starts draining a local gateway's queue unless a drain is running (then it goes round once more). */
  schedule(gatewayId: string, remoteSentAt?: number): void {
    const entry = this.o.local.get(gatewayId);
    if (!entry || !entry.ready || this.closed) return;
    if (entry.draining) {
      entry.again = true;
      return;
    }
    entry.draining = true;
    void this.drain(entry, remoteSentAt).then(
      () => {
        entry.draining = false;
        // A wake-up that came after the drain's last look at `again` (between its end and this line) found it still
        // draining and only set `again`: start the drain it asked for, or its event waits for the next wake-up.
        if (entry.again) this.schedule(gatewayId);
      },
      (err: unknown) => {
        entry.draining = false;
        if (!entry.session.isOpen) return;
        // WeCom media or Redis failing for a moment: the events stay queued and this gateway is tried again soon,
        // rather than at the next wake-up or sweep (and not at once: the failure is likely to repeat).
        if (!(err instanceof TransientMediaError)) this.o.logger.warn({ err, gatewayId }, 'delivery interrupted; events stay queued');
        const t = setTimeout(() => this.schedule(gatewayId), DRAIN_RETRY_MS);
        t.unref();
      },
    );
  }

  /**
   * {@link schedule} for a wake-up, with the items the waking node appended when it brought them: the drain writes those
   * without reading the queue where nothing can sit between its pointer and them (see takeFromRun), and reads the queue
   * otherwise.
   */
  offer(gatewayId: string, run: AppendedRun | undefined, remoteSentAt?: number): void {
    const entry = this.o.local.get(gatewayId);
    if (!entry || this.closed) return;
    if (run) entry.offered = offerRun(entry.offered, run);
    this.schedule(gatewayId, remoteSentAt);
  }

  /** An ack-mode gateway confirmed everything up to `deliveryId`; ids this socket was not sent are ignored. */
  async acknowledge(entry: LocalGateway, deliveryId: string): Promise<void> {
    const range = entry.window.confirm(deliveryId);
    if (range === null) return;
    await this.o.queue.ack(entry.session.gatewayId, range.upTo, range.prev ?? undefined);
    // Only a drain held back by a full window is waiting for this; otherwise new events come with a wake-up.
    if (entry.waitingForRoom) this.schedule(entry.session.gatewayId);
  }

  /**
   * Ack mode: sends again, in order, every waiting event after `afterId` (null: after the last acknowledged one).
   * Nothing is lost or reordered: the pointer moves back only between two deliveries, unconfirmed events after it
   * are forgotten as in flight and re-read from the queue (acknowledged ones are no longer there), and the gateway
   * drops repeats by delivery_id.
   */
  async redeliver(gatewayId: string, afterId: string | null): Promise<RedeliverOutcome> {
    const entry = this.o.local.get(gatewayId);
    if (!entry) return { result: 'not_connected' };
    if (entry.session.delivery !== 'ack') return { result: 'not_ack_mode' };
    const acked = await this.o.queue.lastAcked(gatewayId);
    const target = afterId ?? acked;
    if (!this.o.local.isCurrent(entry)) return { result: 'not_connected' };
    // target is null only when acked is too (afterId null, nothing acknowledged yet).
    if (target !== acked && (target === null || !entry.window.holds(target))) return { result: 'not_waiting' };
    entry.resetTo = target;
    this.o.logger.info({ gatewayId, after: target }, 'redelivering on request');
    this.schedule(gatewayId);
    return { result: 'scheduled', after: target };
  }

  private async drain(entry: LocalGateway, remoteSentAt: number | undefined): Promise<void> {
    const ackMode = entry.session.delivery === 'ack';
    const live = () => this.o.local.isCurrent(entry) && entry.session.isOpen;
    do {
      entry.again = false;
      for (;;) {
        if (!live()) return;
        this.applyReset(entry);
        const room = ackMode ? this.o.ackWindow - entry.window.length : BATCH;
        entry.waitingForRoom = room <= 0;
        if (room <= 0) break;
        const limit = Math.min(BATCH, room);
        const items = await this.read(entry, limit);
        if (items.length === 0) break;
        await this.deliverBatch(entry, items, ackMode, remoteSentAt);
        // A short read emptied the queue as of that read: an event appended after it comes with its own wake-up
        // (which sets `again`), so reading once more would only find nothing.
        if (items.length < limit && entry.resetTo === undefined) break;
      }
    } while (entry.again);
  }

  /** The next items after the pointer: from what a wake-up offered where it can serve, else read from the queue. */
  private async read(entry: LocalGateway, limit: number): Promise<QueuedItem[]> {
    if (entry.offered !== null) {
      const taken = takeFromRun(entry.offered, entry.pointer, limit);
      entry.offered = taken.rest;
      if (taken.items !== null) return taken.items;
    }
    return await this.o.queue.readAfter(entry.session.gatewayId, entry.pointer, limit);
  }

  /**
   * Writes one batch in order. A legacy gateway's progress (written counts as delivered) is recorded once per batch,
   * also when the batch ends early: a node that dies mid-batch sends again at most what it wrote since.
   */
  private async deliverBatch(entry: LocalGateway, items: QueuedItem[], ackMode: boolean, remoteSentAt: number | undefined): Promise<void> {
    const { gatewayId } = entry.session;
    // The id read right before the batch: with one item written, the ack covers it alone.
    const before = entry.pointer;
    let written: string | null = null;
    let writtenCount = 0;
    entry.unwrittenCount = items.length;
    entry.unwrittenOldestAt = items[0]!.enqueuedAt;
    try {
      for (let i = 0; i < items.length; i++) {
        if (!this.o.local.isCurrent(entry) || !entry.session.isOpen) return;
        // A redeliver asked for meanwhile: re-read from its point rather than go on with this batch.
        if (entry.resetTo !== undefined) return;
        const item = items[i]!;
        await this.deliverOne(entry, item, ackMode, remoteSentAt);
        written = item.id;
        writtenCount++;
        entry.unwrittenCount = items.length - i - 1;
        entry.unwrittenOldestAt = items[i + 1]?.enqueuedAt ?? null;
      }
    } finally {
      entry.unwrittenCount = 0;
      entry.unwrittenOldestAt = null;
      if (!ackMode && written !== null) await this.o.queue.ack(gatewayId, written, writtenCount === 1 && before !== null ? before : undefined);
    }
  }

  /** Moves the pointer back for a redeliver, between two deliveries. */
  private applyReset(entry: LocalGateway): void {
    if (entry.resetTo === undefined) return;
    const target = entry.resetTo;
    entry.resetTo = undefined;
    entry.window.rewindTo(target);
    entry.pointer = target;
  }

  private async deliverOne(entry: LocalGateway, item: QueuedItem, ackMode: boolean, remoteSentAt: number | undefined) {
    const { gatewayId } = entry.session;
    const event = item.event;
    // A binding queued before this socket opened was already announced by the hello replay; an opt-in event
    // goes only to gateways that asked for it.
    const feature = featureRequiredFor(event);
    const skip =
      (event.type === 'binding_resolved' && entry.replayed?.delete(event.externalUserId) === true) ||
      (feature !== null && !entry.session.features.includes(feature));
    if (!skip) {
      const { features, sessionId } = entry.session;
      // Awaited only for what needs it (media, a profile): each await is a turn every other drain of the wake-up
      // takes before this frame is written.
      const shaped = shapeFrame(event, features);
      const { frame, charge }: { frame: Frame; charge?: MediaCharge | undefined } =
        shaped.mediaId === undefined ? shaped : await this.withMedia(shaped.frame, shaped.mediaId, sessionId, features);
      try {
        const sent = wantsProfile(frame, features, this.o.profiles) ? await withProfile(frame, features, this.o.profiles) : frame;
        if (ackMode) sent.deliveryId = item.id;
        // Rejects (and the item stays queued) when the socket closes, e.g. with 4009 for not reading.
        await entry.session.send(sent);
      } finally {
        charge?.release();
      }
      const route = remoteSentAt === undefined ? 'local' : 'remote';
      this.o.metrics.deliveries.inc({ route });
      this.o.metrics.deliveryLatency.observe({ route }, Math.max(0, this.o.now() - item.enqueuedAt) / 1000);
    }
    const prev = entry.pointer;
    entry.pointer = item.id;
    // Legacy gateways never acknowledge: written to the socket counts as delivered, recorded per batch.
    if (!ackMode) return;
    const ackNow = entry.window.pass(item.id, skip, item.enqueuedAt, prev);
    if (ackNow !== null) await this.o.queue.ack(gatewayId, ackNow.upTo, ackNow.prev ?? undefined);
  }

  /** The frame with its media: inlined, linked, or the reason it is not. */
  private async withMedia(
    frame: MessageFrame,
    mediaId: string,
    owner: string,
    features: readonly GatewayFeature[],
  ): Promise<{ frame: MessageFrame; charge?: MediaCharge | undefined }> {
    const media = await this.o.media.fetch(mediaId, owner, features);
    if ('error' in media) return { frame: { ...frame, mediaError: media.error } };
    if ('link' in media) return { frame: { ...frame, mediaUrl: media.link.url, mediaUrlExpiresAt: media.link.expiresAt } };
    return { frame: { ...frame, mediaData: media.base64, mediaMime: media.mime }, charge: media.charge };
  }
}

type Frame = GatewayEvent & { deliveryId?: string };
type MessageFrame = ShapedMessage['frame'] & { deliveryId?: string };

/**
 * A queued event as this gateway's frame, before its media (named by `mediaId`): an object of its own, which the drain
 * may change (shapeMessage builds one; other kinds are copied), so the queued item stays as it was read.
 */
function shapeFrame(event: QueuedEvent, features: readonly GatewayFeature[]): { frame: Frame; mediaId?: undefined } | { frame: MessageFrame; mediaId: string } {
  if (event.type !== 'inbound' && event.type !== 'servicer_message') return { frame: { ...event } };
  const { frame, mediaId } = shapeMessage(event, features);
  return mediaId === undefined ? { frame } : { frame, mediaId };
}

import type { Logger } from 'pino';
import type { GatewayEvent, GatewayFeature, QueuedEvent } from '@wecom-relay/shared';
import type { DeliveryQueue, QueueAppendOptions, QueuedItem } from '../state/delivery-queue.js';
import type { PresenceMap } from '../state/presence-map.js';
import type { BusMessage, NodeBus } from '../state/node-bus.js';
import type { RelayMetrics } from '../observability/metrics.js';
import { ERROR_CATALOG } from '../errors/error-catalog.js';
import type { DeliverySession } from './delivery-session.js';
import { TransientMediaError, type MediaCharge, type MediaInliner } from './media-inliner.js';
import { featureRequiredFor, shapeMessage, withProfile } from './feature-gates.js';
import type { CustomerProfileCache } from './customer-profiles.js';

/** Options for {@link DeliveryService}; timings default to what a production cluster wants. */
export interface DeliveryServiceOptions {
  nodeId: string;
  queue: DeliveryQueue;
  presence: PresenceMap;
  bus: NodeBus;
  media: MediaInliner;
  logger: Logger;
  metrics: RelayMetrics;
  retention: { maxAgeMs: number; maxItems: number };
  now?: () => number;
  /** How often this node proves it is alive; its gateways read as offline 3 heartbeats after it dies. */
  heartbeatMs?: number;
  /**
   * How often every local gateway's queue is re-read (in case a wake-up was lost) and its ownership re-checked
   * (in case a superseded signal was lost, or Redis came back without the presence map). Also done at once when
   * the bus subscription comes back.
   */
  sweepMs?: number;
  /** Ack-mode gateways: how many unacknowledged events may be in flight. */
  ackWindow?: number;
  /** Bus messages that are not delivery's own (an operator's drain), passed on. */
  onControl?: (message: BusMessage) => void;
  /** Profiles for `customer_profile` gateways; without it no frame carries one. */
  profiles?: CustomerProfileCache;
}

/** What {@link DeliveryService.redeliver} did. */
export type RedeliverOutcome =
  | { result: 'scheduled'; after: string | null }
  /** The gateway holds no socket on this node. */
  | { result: 'not_connected' }
  /** A gateway without `delivery: ack` confirms nothing: what was written counts as delivered and is gone. */
  | { result: 'not_ack_mode' }
  /** The id is neither the last acknowledged one nor one sent and still unconfirmed. */
  | { result: 'not_waiting' };

/** A gateway held by this node. */
interface LocalGateway {
  session: DeliverySession;
  generation: number;
  /** Id of the last queued item written to the socket (or acknowledged, at start). */
  pointer: string | null;
  /**
   * Ack mode: items passed since the last acknowledgement, oldest first. `silent` ones were skipped (not sent):
   * they are acknowledged together with the sent item before them, never on their own, because acknowledging
   * is cumulative and would drop sent items the gateway has not confirmed.
   */
  inflight: Array<{ id: string; silent: boolean }>;
  /** Users whose binding the hello replay announced; their queued binding_resolved is not sent again. */
  replayed: Set<string>;
  ready: boolean;
  draining: boolean;
  again: boolean;
  /** Set by an operator's redeliver: where the drain restarts from, applied between two items, never during one. */
  resetTo?: string | null;
}

const BATCH = 50;
/** Delay before a drain that failed (WeCom media, Redis) is tried again. */
const DRAIN_RETRY_MS = 2_000;
/** Gateways re-checked at once during a sweep (each takes a few Redis round trips). */
const SWEEP_CONCURRENCY = 16;

/**
 * Moves events from per-gateway queues to gateway sockets. Every event is appended to its gateway's queue
 * first; the node holding the gateway (per the presence map) is woken over the bus and writes it. A gateway
 * that is offline, or moving between nodes, finds its events waiting when it connects anywhere.
 */
export class DeliveryService {
  private readonly local = new Map<string, LocalGateway>();
  private readonly appendsSinceTrim = new Map<string, number>();
  private readonly now: () => number;
  private readonly timers: NodeJS.Timeout[] = [];
  private closed = false;
  private busWasLive = true;
  private sweeping = false;
  /** The presence generation each attached socket claimed, kept even after it leaves `local`. */
  private readonly generations = new WeakMap<DeliverySession, number>();

  constructor(private readonly o: DeliveryServiceOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Subscribes to this node's bus channel and starts the heartbeat and sweep timers. */
  async start(): Promise<void> {
    await this.o.bus.subscribe(this.o.nodeId, (m) => this.onBusMessage(m));
    await this.o.presence.heartbeat(this.o.nodeId, this.heartbeatTtl());
    const every = (ms: number, fn: () => Promise<void>) => {
      const t = setInterval(() => void fn().catch((err: unknown) => this.o.logger.warn({ err }, 'delivery timer failed')), ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.o.heartbeatMs ?? 5_000, () => this.heartbeat());
    every(this.o.sweepMs ?? 30_000, () => this.sweep());
  }

  /** Number of gateways connected to this node. */
  localCount(): number {
    return this.local.size;
  }

  /** Ids of the gateways connected to this node. */
  localGatewayIds(): string[] {
    return [...this.local.keys()];
  }

  /**
   * Queues an event for a gateway and wakes whichever node holds it. Resolves once the event is stored: true
   * when it was appended, false when `options.dedupKey` showed it was already queued.
   */
  async enqueue(gatewayId: string, event: QueuedEvent, options?: QueueAppendOptions): Promise<boolean> {
    const id = await this.o.queue.append(gatewayId, event, options);
    // A duplicate leaves the queue unchanged, but the owner is still woken: the first append's wake-up may be
    // what failed (Redis went away between the append and the publish), which is why the page came round again.
    if (id !== null) this.maybeTrim(gatewayId);
    // Append happens before the lookup and a new owner claims before it reads, so a gateway that moves in
    // between is served by its new node either way.
    await this.wake(gatewayId);
    return id !== null;
  }

  /** For batches appended elsewhere (enqueue-batch.ts): counts `count` new items toward the gateway's trimming. */
  noteAppended(gatewayId: string, count: number): void {
    for (let i = 0; i < count; i++) this.maybeTrim(gatewayId);
  }

  /** Drains a gateway's queue soon if it is attached here (nothing otherwise). */
  wakeLocal(gatewayId: string): void {
    this.schedule(gatewayId);
  }

  /** Tells whichever node holds the gateway to drain its queue. */
  private async wake(gatewayId: string): Promise<void> {
    const owner = await this.o.presence.lookup(gatewayId);
    if (!owner) return;
    if (owner.nodeId === this.o.nodeId) {
      this.schedule(gatewayId);
      return;
    }
    this.o.metrics.busMessages.inc({ direction: 'sent', kind: 'wake' });
    await this.o.bus.publish(owner.nodeId, { kind: 'wake', gatewayId, sentAt: this.now() });
  }

  /**
   * Takes over a gateway's deliveries for a newly authenticated socket: claims presence (the newest connection
   * wins everywhere), runs `beforeDrain` (the binding replay), then writes queued events in order.
   */
  async attach(session: DeliverySession, beforeDrain: () => Promise<Iterable<string> | void>): Promise<void> {
    const { gatewayId } = session;
    const { generation, previous } = await this.o.presence.claim(gatewayId, this.o.nodeId);
    this.generations.set(session, generation);
    if (previous && previous.nodeId !== this.o.nodeId) {
      this.o.metrics.busMessages.inc({ direction: 'sent', kind: 'superseded' });
      await this.o.bus.publish(previous.nodeId, { kind: 'superseded', gatewayId, generation });
    }
    // Expired events are dropped before a returning gateway is served, not after.
    await this.trim(gatewayId);
    const pointer = await this.startingPoint(session);
    // No await from here to local.set: two sockets of one gateway attaching here at once are settled by
    // generation, whichever of them gets here first.
    const older = this.local.get(gatewayId);
    if (older && older.session !== session) {
      if (older.generation > generation) {
        const { closeCode, message } = ERROR_CATALOG.SUPERSEDED;
        session.close(closeCode, message);
        return;
      }
      this.supersede(older);
    }
    const entry: LocalGateway = {
      session,
      generation,
      pointer,
      inflight: [],
      replayed: new Set(),
      ready: false,
      draining: false,
      again: false,
    };
    this.local.set(gatewayId, entry);
    this.o.metrics.gatewaysConnected.set(this.local.size);
    // For operators only (admin API): a failure here must not fail the connection.
    this.o.presence
      .describe(gatewayId, generation, { since: session.openedAt, dialect: session.dialect ?? 'plain', delivery: session.delivery })
      .catch((err: unknown) => this.o.logger.debug({ err, gatewayId }, 'connection details not recorded'));
    entry.replayed = new Set((await beforeDrain()) ?? []);
    entry.ready = true;
    this.schedule(gatewayId);
  }

  /**
   * Where a new socket's deliveries start: after the last acknowledged event, or after the gateway's resume_after
   * when that names an event still waiting in its queue (one it saw but whose acknowledgement was lost). Anything
   * else - malformed, from another queue, ahead of what was issued - must not leave the gateway waiting for ids
   * that never come, so it is ignored. A gateway never holds more unacknowledged events than the ack window.
   */
  private async startingPoint(session: DeliverySession): Promise<string | null> {
    const acked = await this.o.queue.lastAcked(session.gatewayId);
    if (session.delivery !== 'ack' || !session.resumeAfter || session.resumeAfter === acked) return acked;
    const waiting = await this.o.queue.readAfter(session.gatewayId, acked, this.ackWindow()).catch(() => []);
    if (waiting.some((item) => item.id === session.resumeAfter)) return session.resumeAfter;
    this.o.logger.info({ gatewayId: session.gatewayId }, 'resume_after names no waiting event; resuming after the last acknowledged');
    return acked;
  }

  /** Forgets a socket that closed; releases presence only if no newer connection took over. */
  async detach(session: DeliverySession): Promise<void> {
    const entry = this.local.get(session.gatewayId);
    if (entry?.session === session) {
      this.local.delete(session.gatewayId);
      this.o.metrics.gatewaysConnected.set(this.local.size);
    }
    // Released by this socket's own generation, so a socket that lost an attach race still cleans up after
    // itself, and a stale one changes nothing.
    const generation = entry?.session === session ? entry.generation : this.generations.get(session);
    if (generation !== undefined) await this.o.presence.release(session.gatewayId, this.o.nodeId, generation);
  }

  /** An ack-mode gateway confirmed everything up to `deliveryId`. */
  async acknowledge(session: DeliverySession, deliveryId: string): Promise<void> {
    const entry = this.local.get(session.gatewayId);
    if (!entry || entry.session !== session) return;
    const at = entry.inflight.findIndex((i) => i.id === deliveryId && !i.silent);
    // Only ids this socket was sent count; anything else is ignored rather than trusted.
    if (at === -1) return;
    entry.inflight.splice(0, at + 1);
    // Skipped items right behind the confirmed one are covered by the same acknowledgement.
    let upTo = deliveryId;
    while (entry.inflight[0]?.silent) upTo = entry.inflight.shift()!.id;
    await this.o.queue.ack(session.gatewayId, upTo);
    this.schedule(session.gatewayId);
  }

  /**
   * Ack mode: sends again, in order, every waiting event after `afterId` (null: after the last acknowledged one).
   * Nothing is lost or reordered: the pointer moves back only between two deliveries, unconfirmed events after it
   * are forgotten as in flight and re-read from the queue (acknowledged ones are no longer there), and the gateway
   * drops repeats by delivery_id.
   */
  async redeliver(gatewayId: string, afterId: string | null): Promise<RedeliverOutcome> {
    const entry = this.local.get(gatewayId);
    if (!entry) return { result: 'not_connected' };
    if (entry.session.delivery !== 'ack') return { result: 'not_ack_mode' };
    const acked = await this.o.queue.lastAcked(gatewayId);
    const target = afterId ?? acked;
    if (this.local.get(gatewayId) !== entry) return { result: 'not_connected' };
    if (target !== acked && !entry.inflight.some((i) => i.id === target)) return { result: 'not_waiting' };
    entry.resetTo = target;
    this.o.logger.info({ gatewayId, after: target }, 'redelivering on request');
    this.schedule(gatewayId);
    return { result: 'scheduled', after: target };
  }

  /**
   * Closes up to `count` local sessions with 1012 so their gateways reconnect (through the balancer) elsewhere,
   * the most recently attached first; resolves to how many were closed. Their events stay queued.
   */
  shed(count: number, reason: string): number {
    const { closeCode } = ERROR_CATALOG.SERVICE_RESTART;
    const newestFirst = [...this.local.values()].filter((e) => e.ready).sort((a, b) => b.session.openedAt - a.session.openedAt);
    const chosen = newestFirst.slice(0, Math.max(0, Math.floor(count)));
    for (const entry of chosen) entry.session.close(closeCode, reason);
    return chosen.length;
  }

  /** Stops timers. Sockets are the gateway layer's to close; presence is released as they detach. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    await Promise.allSettled([...this.local.values()].map((e) => this.detach(e.session)));
  }

  private onBusMessage(message: BusMessage): void {
    this.o.metrics.busMessages.inc({ direction: 'received', kind: message.kind });
    if (message.kind === 'wake') {
      this.schedule(message.gatewayId, message.sentAt);
    } else if (message.kind === 'wake-many') {
      for (const gatewayId of message.gatewayIds) this.schedule(gatewayId, message.sentAt);
    } else if (message.kind === 'superseded') {
      const entry = this.local.get(message.gatewayId);
      if (entry && entry.generation < message.generation) this.supersede(entry);
    } else if (message.kind === 'redeliver') {
      this.redeliver(message.gatewayId, message.afterId).then(
        (outcome) => this.o.logger.info({ gatewayId: message.gatewayId, by: message.by, ...outcome }, 'redeliver request from another node'),
        (err: unknown) => this.o.logger.warn({ err, gatewayId: message.gatewayId }, 'redeliver request failed'),
      );
    } else {
      this.o.onControl?.(message);
    }
  }

  private supersede(entry: LocalGateway): void {
    const { closeCode, message } = ERROR_CATALOG.SUPERSEDED;
    this.o.logger.info({ gatewayId: entry.session.gatewayId }, 'connection superseded by a newer one');
    if (this.local.get(entry.session.gatewayId) === entry) this.local.delete(entry.session.gatewayId);
    this.o.metrics.gatewaysConnected.set(this.local.size);
    entry.session.close(closeCode, message);
  }

  /** Starts draining a local gateway's queue unless a drain is running (then it goes round once more). */
  private schedule(gatewayId: string, remoteSentAt?: number): void {
    const entry = this.local.get(gatewayId);
    if (!entry || !entry.ready || this.closed) return;
    if (entry.draining) {
      entry.again = true;
      return;
    }
    entry.draining = true;
    void this.drain(entry, remoteSentAt)
      .catch((err: unknown) => {
        if (!entry.session.isOpen) return;
        // WeCom media or Redis failing for a moment: the events stay queued and this gateway is tried again soon,
        // rather than at the next wake-up or sweep.
        if (!(err instanceof TransientMediaError)) this.o.logger.warn({ err, gatewayId }, 'delivery interrupted; events stay queued');
        const t = setTimeout(() => this.schedule(gatewayId), DRAIN_RETRY_MS);
        t.unref();
      })
      .finally(() => {
        entry.draining = false;
      });
  }

  private async drain(entry: LocalGateway, remoteSentAt: number | undefined): Promise<void> {
    const { gatewayId } = entry.session;
    const ackMode = entry.session.delivery === 'ack';
    const windowSize = this.ackWindow();
    do {
      entry.again = false;
      for (;;) {
        if (this.local.get(gatewayId) !== entry || !entry.session.isOpen) return;
        this.applyReset(entry);
        const room = ackMode ? windowSize - entry.inflight.length : BATCH;
        if (room <= 0) break;
        const items = await this.o.queue.readAfter(gatewayId, entry.pointer, Math.min(BATCH, room));
        if (items.length === 0) break;
        for (const item of items) {
          if (this.local.get(gatewayId) !== entry || !entry.session.isOpen) return;
          // A redeliver asked for meanwhile: re-read from its point rather than go on with this batch.
          if (entry.resetTo !== undefined) break;
          await this.deliverOne(entry, item, ackMode, remoteSentAt);
        }
      }
    } while (entry.again);
  }

  /**
   * Moves the pointer back for a redeliver: unconfirmed ids after the point are no longer in flight (they are read
   * and sent again); when the point is not in flight (the last acknowledged id, or acknowledged meanwhile), nothing is.
   */
  private applyReset(entry: LocalGateway): void {
    if (entry.resetTo === undefined) return;
    const target = entry.resetTo;
    entry.resetTo = undefined;
    const at = entry.inflight.findIndex((i) => i.id === target);
    entry.inflight = at === -1 ? [] : entry.inflight.slice(0, at + 1);
    entry.pointer = target;
  }

  private async deliverOne(entry: LocalGateway, item: QueuedItem, ackMode: boolean, remoteSentAt: number | undefined) {
    const { gatewayId } = entry.session;
    const event = item.event;
    // A binding queued before this socket opened was already announced by the hello replay; an opt-in event
    // goes only to gateways that asked for it.
    const feature = featureRequiredFor(event);
    const skip =
      (event.type === 'binding_resolved' && entry.replayed.delete(event.externalUserId)) ||
      (feature !== null && !entry.session.features.includes(feature));
    if (!skip) {
      const { frame: shaped, charge } = await this.toFrame(event, entry.session.sessionId, entry.session.features);
      try {
        const frame = await withProfile(shaped, entry.session.features, this.o.profiles);
        if (ackMode) frame.deliveryId = item.id;
        // Rejects (and the item stays queued) when the socket closes, e.g. with 4009 for not reading.
        await entry.session.send(frame);
      } finally {
        charge?.release();
      }
      const route = remoteSentAt === undefined ? 'local' : 'remote';
      this.o.metrics.deliveries.inc({ route });
      this.o.metrics.deliveryLatency.observe({ route }, Math.max(0, this.now() - item.enqueuedAt) / 1000);
    }
    entry.pointer = item.id;
    if (!ackMode) {
      // Legacy gateways never acknowledge: written to the socket counts as delivered.
      await this.o.queue.ack(gatewayId, item.id);
    } else if (skip && entry.inflight.length === 0) {
      // Nothing sent is waiting for confirmation, so a skipped item can be acknowledged on its own.
      await this.o.queue.ack(gatewayId, item.id);
    } else {
      entry.inflight.push({ id: item.id, silent: skip });
    }
  }

  private async toFrame(
    event: QueuedEvent,
    owner: string,
    features: readonly GatewayFeature[],
  ): Promise<{ frame: GatewayEvent & { deliveryId?: string }; charge?: MediaCharge | undefined }> {
    if (event.type !== 'inbound' && event.type !== 'servicer_message') return { frame: { ...event } };
    const { frame: rest, mediaId } = shapeMessage(event, features);
    if (!mediaId) return { frame: { ...rest } };
    const media = await this.o.media.fetch(mediaId, owner, features);
    if ('error' in media) return { frame: { ...rest, mediaError: media.error } };
    if ('link' in media) return { frame: { ...rest, mediaUrl: media.link.url, mediaUrlExpiresAt: media.link.expiresAt } };
    return { frame: { ...rest, mediaData: media.base64, mediaMime: media.mime }, charge: media.charge };
  }

  private maybeTrim(gatewayId: string): void {
    const n = (this.appendsSinceTrim.get(gatewayId) ?? 0) + 1;
    if (n < 50) {
      this.appendsSinceTrim.set(gatewayId, n);
      return;
    }
    this.appendsSinceTrim.delete(gatewayId);
    void this.trim(gatewayId);
  }

  private async trim(gatewayId: string): Promise<void> {
    try {
      const dropped = await this.o.queue.trim(gatewayId, this.o.retention);
      if (dropped > 0) {
        this.o.metrics.queueDropped.inc(dropped);
        this.o.logger.warn({ gatewayId, dropped }, 'undelivered events dropped by the retention bound');
      }
    } catch (err) {
      this.o.logger.warn({ err, gatewayId }, 'queue trim failed');
    }
  }

  private ackWindow(): number {
    return this.o.ackWindow ?? 100;
  }

  private heartbeatTtl(): number {
    return (this.o.heartbeatMs ?? 5_000) * 3;
  }

  /**
   * Proves liveness. When the store had forgotten this node (Redis came back empty) or the bus subscription has
   * just come back, ownership and queues are re-checked at once rather than at the next sweep.
   */
  private async heartbeat(): Promise<void> {
    const remembered = await this.o.presence.heartbeat(this.o.nodeId, this.heartbeatTtl(), [...this.local.keys()]);
    const live = this.o.bus.isLive();
    const cameBack = live && !this.busWasLive;
    this.busWasLive = live;
    if (!remembered || cameBack) await this.sweep();
  }

  /** Re-asserts ownership the presence store lost, closes sockets superseded elsewhere, and re-drains every queue. */
  private async reassert(gatewayId: string, entry: LocalGateway): Promise<void> {
    const owner = await this.o.presence.lookup(gatewayId);
    if (this.local.get(gatewayId) !== entry) return;
    if (!owner) {
      const { generation, previous } = await this.o.presence.claim(gatewayId, this.o.nodeId);
      entry.generation = generation;
      this.generations.set(entry.session, generation);
      // Another node claimed it between the lookup and this claim: its socket is the newer one.
      if (previous && previous.nodeId !== this.o.nodeId) this.supersede(entry);
    } else if (owner.nodeId !== this.o.nodeId || owner.generation > entry.generation) {
      // A newer connection elsewhere whose signal we missed.
      this.supersede(entry);
    }
  }

  private async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const entries = [...this.local];
      let next = 0;
      const worker = async () => {
        while (next < entries.length && !this.closed) {
          const [gatewayId, entry] = entries[next++]!;
          await this.reassert(gatewayId, entry);
          this.schedule(gatewayId);
          await this.trim(gatewayId);
        }
      };
      await Promise.all(Array.from({ length: Math.min(SWEEP_CONCURRENCY, entries.length) }, worker));
    } finally {
      this.sweeping = false;
    }
  }
}

import type { Logger } from 'pino';
import type { QueuedEvent } from '@wecom-relay/shared';
import type { AppendedRun, DeliveryQueue, QueueAppendOptions } from '../state/delivery-queue.js';
import type { PresenceMap } from '../state/presence-map.js';
import type { BusMessage, NodeBus } from '../state/node-bus.js';
import type { RelayMetrics } from '../observability/metrics.js';
import { ERROR_CATALOG } from '../errors/error-catalog.js';
import type { QueueBacklogSnapshot } from '../observability/operator-metrics.js';
import { AckWindow } from './ack-window.js';
import type { CustomerProfileCache } from './customer-profiles.js';
import type { DeliverySession } from './delivery-session.js';
import { GatewayDrain, type RedeliverOutcome } from './gateway-drain.js';
import { GatewayOwnership } from './gateway-ownership.js';
import { LocalGateways, type LocalGateway } from './local-gateways.js';
import type { MediaInliner } from './media-inliner.js';
import { OwnershipSweep } from './ownership-sweep.js';
import { RetentionTrimmer } from './retention-trimmer.js';

export type { RedeliverOutcome } from './gateway-drain.js';

/** Default budget of the slow background re-check (see {@link DeliveryServiceOptions.sweepCallsPerSecond}). */
export const DEFAULT_SWEEP_CALLS_PER_SECOND = 30;

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
   * Budget of the slow background re-check of local gateways (ownership, in case a superseded signal was lost;
   * queue, in case a wake-up was lost), in store calls per second; 0 turns it off. Every gateway is re-checked at
   * once when the bus subscription comes back or the store forgot this node.
   */
  sweepCallsPerSecond?: number;
  /** How often the slow re-check spends its budget. */
  sweepTickMs?: number;
  /** Ack-mode gateways: how many unacknowledged events may be in flight. */
  ackWindow?: number;
  /** Bus messages that are not delivery's own (an operator's drain), passed on. */
  onControl?: (message: BusMessage) => void;
  /** Profiles for `customer_profile` gateways; without it no frame carries one. */
  profiles?: CustomerProfileCache;
}

/**
 * Moves events from per-gateway queues to gateway sockets. Every event is appended to its gateway's queue
 * first; the node holding the gateway (per the presence map) is woken over the bus and writes it. A gateway
 * that is offline, or moving between nodes, finds its events waiting when it connects anywhere.
 *
 * The path of an event: {@link enqueue} → queue → wake → {@link GatewayDrain} → socket → ack window / pointer;
 * who serves a gateway is {@link GatewayOwnership}'s, kept honest by {@link OwnershipSweep}.
 */
export class DeliveryService {
  private readonly local: LocalGateways;
  private readonly ownership: GatewayOwnership;
  private readonly drain: GatewayDrain;
  private readonly trimmer: RetentionTrimmer;
  private readonly sweep: OwnershipSweep;
  private readonly now: () => number;
  private readonly timers: NodeJS.Timeout[] = [];
  private closed = false;
  private busWasLive = true;

  constructor(private readonly o: DeliveryServiceOptions) {
    this.now = o.now ?? Date.now;
    this.local = new LocalGateways(o.metrics);
    this.ownership = new GatewayOwnership({ nodeId: o.nodeId, presence: o.presence, bus: o.bus, local: this.local, metrics: o.metrics, logger: o.logger });
    this.trimmer = new RetentionTrimmer({ queue: o.queue, retention: o.retention, metrics: o.metrics, logger: o.logger });
    this.drain = new GatewayDrain({
      queue: o.queue,
      local: this.local,
      media: o.media,
      profiles: o.profiles,
      metrics: o.metrics,
      logger: o.logger,
      now: this.now,
      ackWindow: o.ackWindow ?? 100,
    });
    this.sweep = new OwnershipSweep({
      local: this.local,
      ownership: this.ownership,
      drain: this.drain,
      trimmer: this.trimmer,
      callsPerSecond: o.sweepCallsPerSecond ?? DEFAULT_SWEEP_CALLS_PER_SECOND,
    });
  }

  /** Subscribes to this node's bus channel and starts the heartbeat and sweep timers. */
  async start(): Promise<void> {
    await this.o.bus.subscribe(this.o.nodeId, (m) => this.onBusMessage(m));
    await this.ownership.heartbeat(this.heartbeatTtl());
    const every = (ms: number, fn: () => Promise<void>) => {
      const t = setInterval(() => void fn().catch((err: unknown) => this.o.logger.warn({ err }, 'delivery timer failed')), ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.o.heartbeatMs ?? 5_000, () => this.heartbeat());
    const tickMs = this.o.sweepTickMs ?? 1_000;
    every(tickMs, () => this.sweep.tick(tickMs));
  }

  /** Number of gateways connected to this node. */
  localCount(): number {
    return this.local.size;
  }

  /** Ids of the gateways connected to this node. */
  localGatewayIds(): string[] {
    return this.local.ids();
  }

  /**
   * Events this node has read from its gateways' queues and not yet written (legacy) or had confirmed (ack mode),
   * and how old the oldest is. Computed from memory: no queue is read, so a scrape costs no store calls.
   */
  backlog(): QueueBacklogSnapshot {
    let events = 0;
    let oldest: number | null = null;
    for (const entry of this.local.entries()) {
      events += entry.window.length + entry.unwrittenCount;
      for (const at of [entry.window.oldestEnqueuedAt, entry.unwrittenOldestAt]) {
        if (at !== null && (oldest === null || at < oldest)) oldest = at;
      }
    }
    return { events, oldestAgeSeconds: oldest === null ? 0 : Math.max(0, (this.now() - oldest) / 1000) };
  }

  /**
   * Queues an event for a gateway and wakes whichever node holds it. Resolves once the event is stored: true
   * when it was appended, false when `options.dedupKey` showed it was already queued.
   */
  async enqueue(gatewayId: string, event: QueuedEvent, options?: QueueAppendOptions): Promise<boolean> {
    const id = await this.o.queue.append(gatewayId, event, options);
    // A duplicate leaves the queue unchanged, but the owner is still woken: the first append's wake-up may be
    // what failed (Redis went away between the append and the publish), which is why the page came round again.
    if (id !== null) this.trimmer.noteAppend(gatewayId);
    // Append happens before the lookup and a new owner claims before it reads, so a gateway that moves in
    // between is served by its new node either way.
    await this.wake(gatewayId);
    return id !== null;
  }

  /** For batches appended elsewhere (enqueue-batch.ts): counts `count` new items toward the gateway's trimming. */
  noteAppended(gatewayId: string, count: number): void {
    for (let i = 0; i < count; i++) this.trimmer.noteAppend(gatewayId);
  }

  /** Drains a gateway's queue soon if it is attached here (nothing otherwise), with the items just appended when known. */
  wakeLocal(gatewayId: string, run?: AppendedRun): void {
    this.drain.offer(gatewayId, run);
  }

  /** Tells whichever node holds the gateway to drain its queue. */
  async wake(gatewayId: string): Promise<void> {
    const owner = await this.o.presence.lookup(gatewayId);
    if (!owner) return;
    if (owner.nodeId === this.o.nodeId) {
      this.drain.schedule(gatewayId);
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
    const generation = await this.ownership.claim(session);
    // Expired events are dropped before a returning gateway is served, not after.
    await this.trimmer.trim(gatewayId);
    const pointer = await this.startingPoint(session);
    // No await from here to local.add: two sockets of one gateway attaching here at once are settled by
    // generation, whichever of them gets here first.
    const older = this.local.get(gatewayId);
    if (older && older.session !== session) {
      if (older.generation > generation) {
        const { closeCode, message } = ERROR_CATALOG.SUPERSEDED;
        session.close(closeCode, message);
        return;
      }
      this.ownership.supersede(older);
    }
    const entry: LocalGateway = {
      session,
      generation,
      pointer,
      window: new AckWindow(),
      replayed: undefined,
      ready: false,
      draining: false,
      again: false,
      waitingForRoom: false,
      unwrittenCount: 0,
      unwrittenOldestAt: null,
      offered: null,
    };
    this.local.add(entry);
    this.ownership.describe(session, generation);
    const replayed = new Set((await beforeDrain()) ?? []);
    entry.replayed = replayed.size > 0 ? replayed : undefined;
    entry.ready = true;
    this.drain.schedule(gatewayId);
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
    const waiting = await this.o.queue.readAfter(session.gatewayId, acked, this.o.ackWindow ?? 100).catch(() => []);
    if (waiting.some((item) => item.id === session.resumeAfter)) return session.resumeAfter;
    this.o.logger.info({ gatewayId: session.gatewayId }, 'resume_after names no waiting event; resuming after the last acknowledged');
    return acked;
  }

  /** Forgets a socket that closed; releases presence only if no newer connection took over. */
  async detach(session: DeliverySession): Promise<void> {
    const entry = this.local.get(session.gatewayId);
    const current = entry?.session === session ? entry : undefined;
    if (current) this.local.remove(current);
    // Released by this socket's own generation, so a socket that lost an attach race still cleans up after
    // itself, and a stale one changes nothing.
    await this.ownership.release(session, current ? current.generation : this.local.generationOf(session));
  }

  /** An ack-mode gateway confirmed everything up to `deliveryId`. */
  async acknowledge(session: DeliverySession, deliveryId: string): Promise<void> {
    const entry = this.local.get(session.gatewayId);
    if (!entry || entry.session !== session) return;
    await this.drain.acknowledge(entry, deliveryId);
  }

  /** Ack mode: sends again, in order, every waiting event after `afterId` (null: after the last acknowledged one). */
  redeliver(gatewayId: string, afterId: string | null): Promise<RedeliverOutcome> {
    return this.drain.redeliver(gatewayId, afterId);
  }

  /**
   * Closes up to `count` local sessions with 1012 so their gateways reconnect (through the balancer) elsewhere,
   * the most recently attached first; resolves to how many were closed. Their events stay queued.
   */
  shed(count: number, reason: string): number {
    const { closeCode } = ERROR_CATALOG.SERVICE_RESTART;
    const newestFirst = this.local
      .entries()
      .filter((e) => e.ready)
      .sort((a, b) => b.session.openedAt - a.session.openedAt);
    const chosen = newestFirst.slice(0, Math.max(0, Math.floor(count)));
    for (const entry of chosen) entry.session.close(closeCode, reason);
    return chosen.length;
  }

  /** Stops timers. Sockets are the gateway layer's to close; presence is released as they detach. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.drain.close();
    this.sweep.close();
    await Promise.allSettled(this.local.entries().map((e) => this.detach(e.session)));
  }

  private onBusMessage(message: BusMessage): void {
    this.o.metrics.busMessages.inc({ direction: 'received', kind: message.kind });
    if (message.kind === 'wake') {
      this.drain.offer(message.gatewayId, message.run, message.sentAt);
    } else if (message.kind === 'wake-many') {
      for (const gatewayId of message.gatewayIds) this.drain.offer(gatewayId, message.runs?.[gatewayId], message.sentAt);
    } else if (message.kind === 'superseded') {
      this.ownership.onSuperseded(message.gatewayId, message.generation);
    } else if (message.kind === 'redeliver') {
      this.redeliver(message.gatewayId, message.afterId).then(
        (outcome) => this.o.logger.info({ gatewayId: message.gatewayId, by: message.by, ...outcome }, 'redeliver request from another node'),
        (err: unknown) => this.o.logger.warn({ err, gatewayId: message.gatewayId }, 'redeliver request failed'),
      );
    } else {
      this.o.onControl?.(message);
    }
  }

  private heartbeatTtl(): number {
    return (this.o.heartbeatMs ?? 5_000) * 3;
  }

  /**
   * Proves liveness. When the store had forgotten this node (Redis came back empty) or the bus subscription has
   * just come back, ownership and queues are re-checked at once rather than at the next sweep.
   */
  private async heartbeat(): Promise<void> {
    const remembered = await this.ownership.heartbeat(this.heartbeatTtl());
    const live = this.o.bus.isLive();
    const cameBack = live && !this.busWasLive;
    this.busWasLive = live;
    if (!remembered || cameBack) await this.sweep.run();
  }
}

import type { RelayMetrics } from '../observability/metrics.js';
import type { AppendedRun } from '../state/delivery-queue.js';
import type { AckWindow } from './ack-window.js';
import type { DeliverySession } from './delivery-session.js';

/** A gateway whose socket this node holds, with where its deliveries stand. */
export interface LocalGateway {
  session: DeliverySession;
  /** The presence generation this socket claimed; a newer one anywhere supersedes it. */
  generation: number;
  /** Id of the last queued item written to the socket (or acknowledged, at start). */
  pointer: string | null;
  /** Ack mode: what was passed since the last acknowledgement. */
  window: AckWindow;
  /**
   * Users whose binding the hello replay announced; their queued binding_resolved is not sent again. Absent when
   * there were none (most idle gateways), so an entry holds no empty set.
   */
  replayed: Set<string> | undefined;
  /** False until the binding replay ran: nothing is drained before it. */
  ready: boolean;
  draining: boolean;
  /** A wake-up came while draining: go round once more. */
  again: boolean;
  /** Ack mode: the last drain stopped because the window was full, so a confirmation must start the next one. */
  waitingForRoom: boolean;
  /**
   * Items the running drain read and has not yet written, and when the oldest of them was appended (for the
   * backlog gauges; no queue is read for them). Plain fields: updated per item, held by every idle entry.
   */
  unwrittenCount: number;
  unwrittenOldestAt: number | null;
  /** Items a wake-up brought along (appended after `after`), which the drain writes without reading the queue when it can. */
  offered: AppendedRun | null;
  /** Set by an operator's redeliver: where the drain restarts from, applied between two items, never during one. */
  resetTo?: string | null;
}

/** The registry of gateways connected to this node: at most one current socket per gateway. */
export class LocalGateways {
  private readonly byId = new Map<string, LocalGateway>();
  /** The presence generation each attached socket claimed, kept even after it leaves the registry. */
  private readonly generations = new WeakMap<DeliverySession, number>();

  constructor(private readonly metrics: RelayMetrics) {}

  get size(): number {
    return this.byId.size;
  }

  /** The current entry of a gateway, if it is connected here. */
  get(gatewayId: string): LocalGateway | undefined {
    return this.byId.get(gatewayId);
  }

  /** True while the entry is still its gateway's current one (not superseded, not detached). */
  isCurrent(entry: LocalGateway): boolean {
    return this.byId.get(entry.session.gatewayId) === entry;
  }

  ids(): string[] {
    return [...this.byId.keys()];
  }

  entries(): LocalGateway[] {
    return [...this.byId.values()];
  }

  /** Makes the entry its gateway's current one. */
  add(entry: LocalGateway): void {
    this.byId.set(entry.session.gatewayId, entry);
    this.metrics.gatewaysConnected.set(this.byId.size);
  }

  /** Drops the entry if it is still current; a stale one changes nothing. */
  remove(entry: LocalGateway): void {
    if (this.isCurrent(entry)) this.byId.delete(entry.session.gatewayId);
    this.metrics.gatewaysConnected.set(this.byId.size);
  }

  rememberGeneration(session: DeliverySession, generation: number): void {
    this.generations.set(session, generation);
  }

  /** The generation the socket claimed, whether or not it is still current. */
  generationOf(session: DeliverySession): number | undefined {
    return this.generations.get(session);
  }
}

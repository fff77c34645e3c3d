import type { Logger } from 'pino';
import type { RelayMetrics } from '../observability/metrics.js';
import type { NodeBus } from '../state/node-bus.js';
import type { PresenceMap } from '../state/presence-map.js';
import { ERROR_CATALOG } from '../errors/error-catalog.js';
import type { DeliverySession } from './delivery-session.js';
import type { LocalGateway, LocalGateways } from './local-gateways.js';

/**
 * Which node serves a gateway: the newest connection claims it in the presence map (a strictly increasing
 * generation), tells the previous owner it was superseded, and loses to any later claim. The node proves it is
 * alive by heartbeat; when the store forgot it, its gateways are claimed again.
 */
export class GatewayOwnership {
  constructor(
    private readonly o: {
      nodeId: string;
      presence: PresenceMap;
      bus: NodeBus;
      local: LocalGateways;
      metrics: RelayMetrics;
      logger: Logger;
    },
  ) {}

  /** Claims the gateway for this socket and tells the previous owner node; resolves to the claimed generation. */
  async claim(session: DeliverySession): Promise<number> {
    const { gatewayId } = session;
    const { generation, previous } = await this.o.presence.claim(gatewayId, this.o.nodeId);
    this.o.local.rememberGeneration(session, generation);
    if (previous && previous.nodeId !== this.o.nodeId) {
      this.o.metrics.busMessages.inc({ direction: 'sent', kind: 'superseded' });
      await this.o.bus.publish(previous.nodeId, { kind: 'superseded', gatewayId, generation });
    }
    return generation;
  }

  /** Records for operators how the socket is connected; a failure must not fail the connection. */
  describe(session: DeliverySession, generation: number): void {
    this.o.presence
      .describe(session.gatewayId, generation, { since: session.openedAt, dialect: session.dialect ?? 'plain', delivery: session.delivery })
      .catch((err: unknown) => this.o.logger.debug({ err, gatewayId: session.gatewayId }, 'connection details not recorded'));
  }

  /** Releases the claim of a socket that left, by its own generation, so a stale one changes nothing. */
  async release(session: DeliverySession, generation: number | undefined): Promise<void> {
    if (generation !== undefined) await this.o.presence.release(session.gatewayId, this.o.nodeId, generation);
  }

  /** Closes a socket a newer connection took over, and forgets it. */
  supersede(entry: LocalGateway): void {
    const { closeCode, message } = ERROR_CATALOG.SUPERSEDED;
    this.o.logger.info({ gatewayId: entry.session.gatewayId }, 'connection superseded by a newer one');
    this.o.local.remove(entry);
    entry.session.close(closeCode, message);
  }

  /** Another node claimed the gateway with `generation`; an older claim's signal (arriving late) changes nothing. */
  onSuperseded(gatewayId: string, generation: number): void {
    const entry = this.o.local.get(gatewayId);
    if (entry && entry.generation < generation) this.supersede(entry);
  }

  /**
   * Re-checks one gateway against the presence map: claims it again when the store lost it, closes it when a
   * newer connection elsewhere was missed. Resolves to whether this node still serves it.
   */
  async reassert(entry: LocalGateway): Promise<boolean> {
    const { gatewayId } = entry.session;
    const owner = await this.o.presence.lookup(gatewayId);
    if (!this.o.local.isCurrent(entry)) return false;
    if (!owner) {
      const { generation, previous } = await this.o.presence.claim(gatewayId, this.o.nodeId);
      entry.generation = generation;
      this.o.local.rememberGeneration(entry.session, generation);
      // Another node claimed it between the lookup and this claim: its socket is the newer one.
      if (previous && previous.nodeId !== this.o.nodeId) {
        this.supersede(entry);
        return false;
      }
    } else if (owner.nodeId !== this.o.nodeId || owner.generation > entry.generation) {
      // A newer connection elsewhere whose signal we missed.
      this.supersede(entry);
      return false;
    }
    return true;
  }

  /** Marks this node alive; resolves false when the store had forgotten it (its claims must be made again). */
  heartbeat(ttlMs: number): Promise<boolean> {
    return this.o.presence.heartbeat(this.o.nodeId, ttlMs, this.o.local.ids());
  }
}

import type { GatewayDrain } from './gateway-drain.js';
import type { GatewayOwnership } from './gateway-ownership.js';
import type { LocalGateways } from './local-gateways.js';
import type { RetentionTrimmer } from './retention-trimmer.js';

/** Gateways re-checked at once during a full pass (each takes a few Redis round trips). */
const SWEEP_CONCURRENCY = 16;
/**
 * Gateways one tick of the slow pass re-checks side by side, at most: their store calls go out together (on one Redis
 * server each kind as one command of the store's tick batches), where one after the other each was a round trip.
 */
const TICK_CONCURRENCY = 64;
/** Store calls one gateway's re-check costs: the presence lookup, the queue read of its drain, the trim. */
export const SWEEP_CALLS_PER_GATEWAY = 3;

/**
 * Re-checks local gateways: ownership (a lost superseded signal, a store that lost its data), the queue (a lost
 * wake-up) and the retention bound. Done for all at once when something was lost (the store forgot this node, the
 * bus subscription came back); otherwise only as a slow background pass whose store calls per second are bounded,
 * so an idle node's work does not grow with the number of its gateways.
 */
export class OwnershipSweep {
  private sweeping = false;
  private closed = false;
  /** The slow pass: gateways still to visit in this round, and store calls it may spend now. */
  private round: string[] = [];
  private credit = 0;
  private ticking = false;

  constructor(
    private readonly o: {
      local: LocalGateways;
      ownership: GatewayOwnership;
      drain: GatewayDrain;
      trimmer: RetentionTrimmer;
      /** The slow pass's budget; 0 turns it off. */
      callsPerSecond: number;
    },
  ) {}

  close(): void {
    this.closed = true;
  }

  /** One pass over every local gateway at once; a pass already running makes this a no-op. */
  async run(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      await this.recheckAll(this.o.local.ids(), SWEEP_CONCURRENCY);
    } finally {
      this.sweeping = false;
    }
  }

  /**
   * The slow pass, called every `elapsedMs`: re-checks as many gateways as the budget allows, side by side, resuming
   * where the last call stopped and starting a new round once every gateway was visited (on the next call, when this
   * one already re-checks some: a gateway is re-checked at most once per call).
   */
  async tick(elapsedMs: number): Promise<void> {
    if (this.o.callsPerSecond <= 0 || this.closed || this.ticking) return;
    this.ticking = true;
    try {
      await this.spend(elapsedMs);
    } finally {
      this.ticking = false;
    }
  }

  private async spend(elapsedMs: number): Promise<void> {
    const earned = (this.o.callsPerSecond * elapsedMs) / 1000;
    // Unspent credit is kept only up to one second's worth, so a stalled store is not followed by a burst.
    this.credit = Math.min(this.credit + earned, Math.max(this.o.callsPerSecond, SWEEP_CALLS_PER_GATEWAY));
    const due: string[] = [];
    while (this.credit >= SWEEP_CALLS_PER_GATEWAY) {
      if (this.round.length === 0) {
        if (due.length > 0) break;
        this.round = this.o.local.ids().reverse();
        if (this.round.length === 0) break;
      }
      this.credit -= SWEEP_CALLS_PER_GATEWAY;
      due.push(this.round.pop()!);
    }
    await this.recheckAll(due, TICK_CONCURRENCY);
  }

  /** Re-checks the gateways, `concurrency` at a time, until done or closed. */
  private async recheckAll(ids: readonly string[], concurrency: number): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < ids.length && !this.closed) await this.recheck(ids[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, ids.length) }, worker));
  }

  private async recheck(gatewayId: string): Promise<void> {
    const entry = this.o.local.get(gatewayId);
    if (!entry) return;
    if (!(await this.o.ownership.reassert(entry))) return;
    this.o.drain.schedule(gatewayId);
    await this.o.trimmer.trim(gatewayId);
  }
}

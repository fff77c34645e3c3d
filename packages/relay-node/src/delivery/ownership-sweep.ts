import type { GatewayDrain } from './gateway-drain.js';
import type { GatewayOwnership } from './gateway-ownership.js';
import type { LocalGateways } from './local-gateways.js';
import type { RetentionTrimmer } from './retention-trimmer.js';

/** Gateways re-checked at once during a sweep (each takes a few Redis round trips). */
const SWEEP_CONCURRENCY = 16;

/**
 * Re-checks every local gateway: ownership (a lost superseded signal, a store that lost its data), its queue (a
 * lost wake-up) and its retention bound.
 */
export class OwnershipSweep {
  private sweeping = false;
  private closed = false;

  constructor(
    private readonly o: { local: LocalGateways; ownership: GatewayOwnership; drain: GatewayDrain; trimmer: RetentionTrimmer },
  ) {}

  close(): void {
    this.closed = true;
  }

  /** One pass over every local gateway; a pass already running makes this a no-op. */
  async run(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const entries = this.o.local.entries();
      let next = 0;
      const worker = async () => {
        while (next < entries.length && !this.closed) {
          const entry = entries[next++]!;
          await this.o.ownership.reassert(entry);
          this.o.drain.schedule(entry.session.gatewayId);
          await this.o.trimmer.trim(entry.session.gatewayId);
        }
      };
      await Promise.all(Array.from({ length: Math.min(SWEEP_CONCURRENCY, entries.length) }, worker));
    } finally {
      this.sweeping = false;
    }
  }
}

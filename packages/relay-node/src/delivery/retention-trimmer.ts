import type { Logger } from 'pino';
import type { RelayMetrics } from '../observability/metrics.js';
import type { DeliveryQueue } from '../state/delivery-queue.js';

/** Appends between two trims of a gateway's queue, so an offline gateway's queue stays near its bound. */
const TRIM_EVERY_APPENDS = 50;

/** Applies the retention bound (age, count) to gateway queues: on return, during sweeps, and every 50 appends. */
export class RetentionTrimmer {
  private readonly appendsSinceTrim = new Map<string, number>();

  constructor(
    private readonly o: {
      queue: DeliveryQueue;
      retention: { maxAgeMs: number; maxItems: number };
      metrics: RelayMetrics;
      logger: Logger;
    },
  ) {}

  /** Counts an append; every 50th starts a trim (not awaited). */
  noteAppend(gatewayId: string): void {
    const n = (this.appendsSinceTrim.get(gatewayId) ?? 0) + 1;
    if (n < TRIM_EVERY_APPENDS) {
      this.appendsSinceTrim.set(gatewayId, n);
      return;
    }
    this.appendsSinceTrim.delete(gatewayId);
    void this.trim(gatewayId);
  }

  /** Drops what the retention bound no longer keeps; never rejects (a failure is logged and retried later). */
  async trim(gatewayId: string): Promise<void> {
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
}

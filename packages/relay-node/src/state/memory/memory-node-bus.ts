import type { Logger } from 'pino';
import type { BusMessage, NodeBus } from '../node-bus.js';

/** The shared "backend" of in-process buses: which handlers listen on which node's channel. */
export class MemoryBusHub {
  private readonly channels = new Map<string, Set<(message: BusMessage) => void>>();

  /** Delivers to every handler on the node's channel, later (never inside the publisher's call); false when none listens. */
  deliver(nodeId: string, message: BusMessage): boolean {
    const handlers = this.channels.get(nodeId);
    if (handlers === undefined || handlers.size === 0) return false;
    for (const handler of handlers) {
      // A copy per listener, as a real transport would give, so no side can mutate what the other sees.
      const copy = structuredClone(message);
      setImmediate(() => handler(copy));
    }
    return true;
  }

  /** Adds a handler to a node's channel. */
  add(nodeId: string, handler: (message: BusMessage) => void): void {
    let handlers = this.channels.get(nodeId);
    if (handlers === undefined) {
      handlers = new Set();
      this.channels.set(nodeId, handlers);
    }
    handlers.add(handler);
  }

  /** Removes a handler from a node's channel. */
  remove(nodeId: string, handler: (message: BusMessage) => void): void {
    const handlers = this.channels.get(nodeId);
    if (handlers === undefined) return;
    handlers.delete(handler);
    if (handlers.size === 0) this.channels.delete(nodeId);
  }
}

/** Options for {@link MemoryNodeBus}. */
export interface MemoryNodeBusOptions {
  /** Buses sharing a hub reach each other; without one the bus only reaches itself (enough for a single node). */
  hub?: MemoryBusHub;
  /** Where a throwing handler is reported; it never reaches the publisher. */
  logger?: Logger;
}

/** A node bus within one process. */
export class MemoryNodeBus implements NodeBus {
  private readonly hub: MemoryBusHub;
  private readonly logger: Logger | undefined;
  private readonly subscriptions: Array<{ nodeId: string; handler: (message: BusMessage) => void }> = [];
  private closed = false;

  constructor(options: MemoryNodeBusOptions = {}) {
    this.hub = options.hub ?? new MemoryBusHub();
    this.logger = options.logger;
  }

  /** Sends to one node's channel; resolves to whether any handler listens there. */
  async publish(nodeId: string, message: BusMessage): Promise<boolean> {
    if (this.closed) return false;
    return this.hub.deliver(nodeId, message);
  }

  /** Listens on a node's channel; live as soon as this resolves. */
  async subscribe(nodeId: string, handler: (message: BusMessage) => void): Promise<void> {
    if (this.closed) return;
    const guarded = (message: BusMessage): void => {
      const report = (err: unknown): void => {
        this.logger?.error({ err, nodeId, kind: message.kind }, 'node bus handler failed');
      };
      try {
        // Handlers are typed void, but an async one slips through; its rejection must not become an unhandled one.
        const result: unknown = handler(message);
        if (result instanceof Promise) result.catch(report);
      } catch (err) {
        report(err);
      }
    };
    this.subscriptions.push({ nodeId, handler: guarded });
    this.hub.add(nodeId, guarded);
  }

  /** True while at least one subscription is in place. */
  isLive(): boolean {
    return !this.closed && this.subscriptions.length > 0;
  }

  /** Stops listening; later publishes from this bus resolve false. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    for (const { nodeId, handler } of this.subscriptions.splice(0)) this.hub.remove(nodeId, handler);
  }
}

import { GatewayClientError } from './gateway-client-error.js';
import { baseType, frameType, type WireDialect, type WireFrame } from './wire-frames.js';

interface Pending {
  resolve: (frame: WireFrame) => void;
  reject: (err: GatewayClientError) => void;
  timer: NodeJS.Timeout;
}

/**
 * Requests waiting for the relay's answer: by id (hello, replies, unbind_all answer with `ack`/`error` carrying the
 * id) and, for create_binding, which has no id on the wire, in the order they were sent.
 */
export class PendingRequests {
  private readonly byId = new Map<string, Pending[]>();
  private readonly bindings: Pending[] = [];

  constructor(
    private readonly dialect: WireDialect,
    private readonly timeoutMs: number,
    /** Recent traffic, for timeout messages. */
    private readonly describeRecent: () => string,
  ) {}

  /** Resolves with the ack carrying `id`, rejects with the error carrying it, or times out. */
  expect(id: string): Promise<WireFrame> {
    return new Promise<WireFrame>((resolve, reject) => {
      const queue = this.byId.get(id) ?? [];
      queue.push(this.entry(resolve, reject, `answer to ${id}`));
      this.byId.set(id, queue);
    });
  }

  /** Resolves with the next create_binding_ack. */
  expectBinding(): Promise<WireFrame> {
    return new Promise<WireFrame>((resolve, reject) => {
      this.bindings.push(this.entry(resolve, reject, 'create_binding_ack'));
    });
  }

  /** Settles whatever request a received frame answers. */
  settle(frame: WireFrame): void {
    const kind = baseType(frame.type);
    if ((kind === 'ack' || kind === 'error') && typeof frame.id === 'string') {
      const queue = this.byId.get(frame.id);
      const pending = queue?.shift();
      if (queue?.length === 0) this.byId.delete(frame.id);
      if (pending) {
        clearTimeout(pending.timer);
        if (kind === 'ack') pending.resolve(frame);
        else pending.reject(relayError(frame));
        return;
      }
    }
    const bindingError = kind === 'error' && frame.id === frameType(this.dialect, 'create_binding');
    if (kind === 'create_binding_ack' || bindingError) {
      const pending = this.bindings.shift();
      if (!pending) return;
      clearTimeout(pending.timer);
      if (bindingError) pending.reject(relayError(frame));
      else pending.resolve(frame);
    }
  }

  /** Rejects everything still waiting (the socket closed). */
  failAll(err: GatewayClientError): void {
    const all = [...[...this.byId.values()].flat(), ...this.bindings];
    this.byId.clear();
    this.bindings.length = 0;
    for (const entry of all) {
      clearTimeout(entry.timer);
      entry.reject(err);
    }
  }

  private entry(resolve: Pending['resolve'], reject: Pending['reject'], what: string): Pending {
    const entry: Pending = {
      resolve,
      reject,
      timer: setTimeout(() => {
        this.forget(entry);
        reject(new GatewayClientError('TIMEOUT', `no ${what} within ${this.timeoutMs} ms; ${this.describeRecent()}`));
      }, this.timeoutMs),
    };
    return entry;
  }

  private forget(entry: Pending): void {
    for (const [id, queue] of this.byId) {
      const index = queue.indexOf(entry);
      if (index >= 0) queue.splice(index, 1);
      if (queue.length === 0) this.byId.delete(id);
    }
    const index = this.bindings.indexOf(entry);
    if (index >= 0) this.bindings.splice(index, 1);
  }
}

function relayError(frame: WireFrame): GatewayClientError {
  return new GatewayClientError('RELAY_ERROR', `relay error: ${String(frame.message)}`, { frame });
}

import type { Clock, TimerHandle } from './clock.js';
import { GatewayError } from './gateway-error.js';
import type { RelayErrorFrame } from './events.js';
import type { ReplyPart } from './wire.js';

/** The relay's answer to an accepted reply. */
export interface ReplyResult {
  /** The request id the reply was sent with. */
  id: string;
  /** WeCom's msgid of the message the reply produced (absent on relays that do not report it). */
  msgid?: string;
  /** The WeCom messages a reply was split into, when the relay reports them. */
  parts?: ReplyPart[];
}

/** The relay's answer to create_binding. */
export interface BindingOffer {
  /** The binding token (8 hex characters). */
  token: string;
  /** The link to show as a QR code; the WeCom user who scans it is bound to this gateway. */
  customerServiceUrl: string;
}

/** Answers a pending request can get. */
export type Answer =
  | { kind: 'ack'; id: string; msgid?: string; parts?: ReplyPart[]; serviceState?: number; servicerUserId?: string; msgCode?: string }
  | { kind: 'create_binding_ack'; token: string; customerServiceUrl: string };

interface Pending {
  /** Where the answer is matched: a request id, or a queue of id-less commands (`create_binding`, `unbind_all`). */
  key: string;
  /** The frame, sent again after a reconnect with the same request id. */
  frame: string;
  resolve: (answer: Answer) => void;
  reject: (err: GatewayError) => void;
  timer: TimerHandle;
  promise: Promise<Answer>;
}

/**
 * Requests waiting for the relay's answer, bounded in number and time. Replies are matched by their id; the
 * commands that have none on the wire (create_binding, unbind_all) are answered in order.
 */
export class PendingRequests {
  private readonly byKey = new Map<string, Pending[]>();
  private count = 0;

  constructor(
    private readonly clock: Clock,
    private readonly timeoutMs: number,
    private readonly max: number,
  ) {}

  /** Number of requests waiting. */
  get size(): number {
    return this.count;
  }

  /**
   * Registers a request; `send` is called now if the socket is open (and again after each reconnect by
   * `resendAll`). A request whose id is already waiting is the same request: its promise is returned.
   */
  add(key: string, frame: string, idempotent: boolean): { promise: Promise<Answer>; isNew: boolean } {
    const queue = this.byKey.get(key);
    if (idempotent && queue?.[0]) return { promise: queue[0].promise, isNew: false };
    if (this.count >= this.max) {
      return {
        promise: Promise.reject(new GatewayError('TOO_MANY_PENDING', `more than ${this.max} requests are waiting for the relay`)),
        isNew: false,
      };
    }
    let entry!: Pending;
    const promise = new Promise<Answer>((resolve, reject) => {
      entry = { key, frame, resolve, reject, timer: undefined, promise: undefined as unknown as Promise<Answer> };
    });
    entry.promise = promise;
    entry.timer = this.clock.setTimeout(() => {
      this.remove(entry);
      const requestId = key.startsWith('r:') ? key.slice(2) : key;
      entry.reject(new GatewayError('TIMEOUT', `no answer from the relay to ${requestId} within ${this.timeoutMs} ms`, { requestId }));
    }, this.timeoutMs);
    const list = queue ?? [];
    list.push(entry);
    this.byKey.set(key, list);
    this.count += 1;
    // Callers that drop the promise must not produce an unhandled rejection when the gateway closes.
    promise.catch(() => undefined);
    return { promise, isNew: true };
  }

  /** Resolves the oldest request waiting under `key`; false when none was. */
  resolve(key: string, answer: Answer): boolean {
    const entry = this.take(key);
    if (!entry) return false;
    entry.resolve(answer);
    return true;
  }

  /** Rejects the oldest request waiting under `key` with the relay's error; false when none was. */
  reject(key: string, error: RelayErrorFrame): boolean {
    const entry = this.take(key);
    if (!entry) return false;
    entry.reject(
      new GatewayError(error.code ?? 'RELAY_ERROR', error.message || 'the relay refused the request', {
        requestId: error.id,
        wecomErrcode: error.wecomErrcode,
      }),
    );
    return true;
  }

  /** The frames of every waiting request, oldest first per key, to send again on a new socket. */
  frames(): string[] {
    return [...this.byKey.values()].flat().map((p) => p.frame);
  }

  /** Rejects everything (the gateway closed). */
  failAll(err: GatewayError): void {
    const all = [...this.byKey.values()].flat();
    this.byKey.clear();
    this.count = 0;
    for (const entry of all) {
      this.clock.clearTimeout(entry.timer);
      entry.reject(err);
    }
  }

  /** Resolves once every request now waiting has been answered, failed or timed out. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.byKey.values()].flat().map((p) => p.promise));
  }

  private take(key: string): Pending | undefined {
    const entry = this.byKey.get(key)?.[0];
    if (entry) this.remove(entry);
    return entry;
  }

  private remove(entry: Pending): void {
    const list = this.byKey.get(entry.key);
    const at = list?.indexOf(entry) ?? -1;
    if (!list || at === -1) return;
    list.splice(at, 1);
    if (list.length === 0) this.byKey.delete(entry.key);
    this.count -= 1;
    this.clock.clearTimeout(entry.timer);
  }
}

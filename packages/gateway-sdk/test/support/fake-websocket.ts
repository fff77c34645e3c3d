import type { WebSocketLike } from '../../src/index.js';

type Listener = (event: never) => void;

/**
 * A WebSocket the test plays the relay for: every instance is recorded in `FakeWebSocket.instances`, frames the
 * SDK sends are in `sent`, and the test opens, sends and closes from the relay's side.
 */
export class FakeWebSocket implements WebSocketLike {
  static instances: FakeWebSocket[] = [];
  readyState = 0;
  readonly sent: string[] = [];
  /** The close code and reason the SDK closed with, if it did. */
  closedByClient: { code: number | undefined; reason: string | undefined } | null = null;
  private readonly listeners = new Map<string, Listener[]>();

  constructor(readonly url: string) {
    FakeWebSocket.instances.push(this);
  }

  static reset(): void {
    FakeWebSocket.instances = [];
  }

  static get last(): FakeWebSocket {
    const socket = FakeWebSocket.instances.at(-1);
    if (!socket) throw new Error('no socket was opened');
    return socket;
  }

  addEventListener(type: string, listener: Listener): void {
    const list = this.listeners.get(type) ?? [];
    list.push(listener);
    this.listeners.set(type, list);
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error('send on a socket that is not open');
    this.sent.push(data);
  }

  close(code?: number, reason?: string): void {
    if (this.readyState >= 2) return;
    this.closedByClient = { code, reason };
    this.readyState = 2;
    queueMicrotask(() => this.serverClose(code ?? 1005, reason ?? ''));
  }

  /** Frames the SDK sent, parsed. */
  frames(): Array<Record<string, unknown>> {
    return this.sent.map((s) => JSON.parse(s) as Record<string, unknown>);
  }

  /** The socket connects. */
  serverOpen(): void {
    this.readyState = 1;
    this.fire('open', {});
  }

  /** Opens and acknowledges the hello (plain dialect unless `cs`). */
  accept(cs = false): void {
    this.serverOpen();
    this.serverSend(cs ? { type: 'cs_ack', id: 'cs_hello' } : { type: 'ack', id: 'hello' });
  }

  serverSend(frame: Record<string, unknown>): void {
    this.fire('message', { data: JSON.stringify(frame) });
  }

  serverClose(code: number, reason = ''): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.fire('close', { code, reason });
  }

  private fire(type: string, event: object): void {
    for (const listener of this.listeners.get(type) ?? []) (listener as (e: object) => void)(event);
  }
}

/** Like `ws`: reports the relay's WebSocket-level pings through `on('ping')`. */
export class PingingFakeWebSocket extends FakeWebSocket {
  private readonly pingListeners: Array<() => void> = [];

  on(event: string, fn: () => void): this {
    if (event === 'ping') this.pingListeners.push(fn);
    return this;
  }

  serverPing(): void {
    for (const fn of this.pingListeners) fn();
  }
}

import WebSocket from 'ws';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FuzzFrame } from './fuzz-inputs.js';


/**
 * A bare WebSocket for fuzzing: sends exactly the bytes it is given (including text frames that are not UTF-8,
 * which a well-behaved client cannot produce) and records what the relay answers and how it closed the socket.
 */
export class FuzzSocket {
  /** Every frame the relay sent, parsed when it was JSON. */
  readonly frames: unknown[] = [];
  /** Resolves with the close code once the socket is closed (1006 when the TCP connection just ended). */
  readonly closed: Promise<number>;
  private closeCode: number | null = null;

  private constructor(private readonly ws: WebSocket) {
    ws.on('error', () => undefined);
    ws.on('message', (data) => {
      const text = Buffer.isBuffer(data)
        ? data.toString('utf8')
        : Array.isArray(data)
          ? Buffer.concat(data).toString('utf8')
          : Buffer.from(data).toString('utf8');
      try {
        this.frames.push(JSON.parse(text));
      } catch {
        this.frames.push(text);
      }
    });
    this.closed = new Promise((resolve) =>
      ws.once('close', (code) => {
        this.closeCode = code;
        resolve(code);
      }),
    );
  }

  /** Opens a socket; rejects when the upgrade fails. */
  static open(url: string, timeoutMs = 10_000): Promise<FuzzSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { handshakeTimeout: timeoutMs, perMessageDeflate: false });
      const socket = new FuzzSocket(ws);
      ws.once('open', () => resolve(socket));
      ws.once('error', reject);
      ws.once('close', () => reject(new Error('closed before open')));
    });
  }

  /** True while the socket is open. */
  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** The close code once closed, else null. */
  get code(): number | null {
    return this.closeCode;
  }

  /** Sends one fuzz frame; false when the socket was no longer open. */
  send(frame: FuzzFrame): boolean {
    if (!this.isOpen) return false;
    this.ws.send(frame.data, { binary: frame.binary === true });
    return true;
  }

  /** Authenticates; resolves true once the relay acknowledged hello. */
  async hello(gatewayId: string, authToken: string, cs: boolean, timeoutMs = 10_000): Promise<boolean> {
    const type = cs ? 'cs_hello' : 'hello';
    this.send({ kind: 'hello', data: JSON.stringify({ type, gateway_id: gatewayId, auth_token: authToken }) });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && this.isOpen) {
      if (this.helloAcked()) return true;
      await sleep(20);
    }
    return this.helloAcked();
  }

  /** Whether the relay ever acknowledged a hello on this socket. */
  helloAcked(): boolean {
    return this.frames.some((f) => {
      const frame = f as { type?: unknown; id?: unknown };
      return (frame.type === 'ack' || frame.type === 'cs_ack') && (frame.id === 'hello' || frame.id === 'cs_hello');
    });
  }

  /** Error frames the relay answered with, by code. */
  errorCodes(): string[] {
    return this.frames.flatMap((f) => {
      const frame = f as { type?: unknown; code?: unknown };
      return (frame.type === 'error' || frame.type === 'cs_error') && typeof frame.code === 'string' ? [frame.code] : [];
    });
  }

  /** Resolves with the close code, or null if the socket is still open after `timeoutMs`. */
  async waitClosed(timeoutMs: number): Promise<number | null> {
    return Promise.race([this.closed, sleep(timeoutMs).then(() => null)]);
  }

  /** Drops the connection. */
  terminate(): void {
    this.ws.terminate();
  }
}

/** Opens `count` sockets (a few dozen at a time), saying nothing on any; resolves with those that opened. */
export async function openFlood(url: string, count: number): Promise<{ sockets: FuzzSocket[]; failed: number }> {
  const sockets: FuzzSocket[] = [];
  let failed = 0;
  for (let start = 0; start < count; start += 50) {
    const batch = await Promise.allSettled(
      Array.from({ length: Math.min(50, count - start) }, () => FuzzSocket.open(url)),
    );
    for (const r of batch) {
      if (r.status === 'fulfilled') sockets.push(r.value);
      else failed += 1;
    }
  }
  return { sockets, failed };
}

/** Counts of each value, as "4001×12 4008×236", for printing. */
export function countsOf(values: readonly (string | number | null)[]): string {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(String(v), (counts.get(String(v)) ?? 0) + 1);
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k}×${n}`)
    .join(' ');
}

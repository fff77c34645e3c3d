import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/**
 * A WebSocket client at the byte level, for what a well-behaved client library cannot do: send part of a frame
 * and stall, never answer a close frame, never read. Client frames are masked with a zero key (allowed by the
 * protocol), so payload bytes go out as given.
 */
export class RawWebSocket {
  /** Bytes received after the upgrade response. */
  received = Buffer.alloc(0);
  /** Resolves when the server ended or destroyed the connection (the client never closes first). */
  readonly closed: Promise<void>;
  private closedByPeer = false;

  private constructor(readonly socket: Socket) {
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.once('end', () => (this.closedByPeer = true));
    socket.on('error', () => {});
  }

  /** Opens a TCP connection and completes the upgrade; extra headers (X-Forwarded-For) are sent as given. */
  static async open(port: number, headers: Record<string, string> = {}): Promise<RawWebSocket> {
    const socket = connect({ host: '127.0.0.1', port });
    const raw = new RawWebSocket(socket);
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    socket.write(
      `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
    );
    await new Promise<void>((resolve, reject) => {
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end === -1) return;
        socket.off('data', onData);
        if (!head.subarray(0, 12).toString().includes('101')) {
          reject(new Error(`upgrade refused: ${head.subarray(0, end).toString()}`));
          return;
        }
        raw.received = head.subarray(end + 4);
        socket.on('data', (more: Buffer) => (raw.received = Buffer.concat([raw.received, more])));
        resolve();
      };
      socket.on('data', onData);
      socket.once('error', reject);
      socket.once('close', () => reject(new Error('closed during upgrade')));
    });
    return raw;
  }

  /** The header of a masked client text frame announcing `length` payload bytes. */
  static frameHeader(length: number, opcode = 0x1): Buffer {
    const mask = Buffer.alloc(4);
    if (length < 126) return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | length]), mask]);
    if (length < 65_536) {
      const h = Buffer.from([0x80 | opcode, 0x80 | 126, 0, 0]);
      h.writeUInt16BE(length, 2);
      return Buffer.concat([h, mask]);
    }
    const h = Buffer.alloc(10);
    h[0] = 0x80 | opcode;
    h[1] = 0x80 | 127;
    h.writeBigUInt64BE(BigInt(length), 2);
    return Buffer.concat([h, mask]);
  }

  /** Writes a whole text frame. */
  sendText(text: string): void {
    const payload = Buffer.from(text);
    this.socket.write(Buffer.concat([RawWebSocket.frameHeader(payload.length), payload]));
  }

  /** The close code of the first close frame the server sent, if any (server frames are unmasked). */
  closeCode(): number | undefined {
    let at = 0;
    const b = this.received;
    while (at + 2 <= b.length) {
      const opcode = b[at]! & 0x0f;
      let length = b[at + 1]! & 0x7f;
      let offset = at + 2;
      if (length === 126) {
        length = b.readUInt16BE(offset);
        offset += 2;
      } else if (length === 127) {
        length = Number(b.readBigUInt64BE(offset));
        offset += 8;
      }
      if (opcode === 0x8) return length >= 2 && offset + 2 <= b.length ? b.readUInt16BE(offset) : undefined;
      at = offset + length;
    }
    return undefined;
  }

  /** True when the server sent a FIN (ended the connection) before it closed. */
  get endedByServer(): boolean {
    return this.closedByPeer;
  }

  /** Resolves true if the server closed the connection within `ms`, false otherwise. */
  async closedWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      this.closed.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
    ]);
    clearTimeout(timer);
    return result;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

import type { Duplex } from 'node:stream';

/** Why an unauthenticated socket was cut off for the bytes it sent. */
export type PreAuthOverrun = 'hello_too_large' | 'node_pending_bytes';

/** Node-wide count of the bytes unauthenticated sockets have sent and the node still holds. */
export class PendingBytePool {
  private used = 0;

  constructor(private readonly maxBytes: number) {}

  /** Counts the bytes; false when they do not fit (they are not counted then). */
  tryAdd(bytes: number): boolean {
    if (this.used + bytes > this.maxBytes) return false;
    this.used += bytes;
    return true;
  }

  /** Gives bytes back. */
  release(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }

  /** Bytes currently counted. */
  get size(): number {
    return this.used;
  }
}

/**
 * Bounds what an unauthenticated socket can make the node hold, at the transport: every raw TCP chunk is counted
 * before the WebSocket parser sees it, and the socket is destroyed once its bytes pass the hello limit or the
 * node-wide pool is full. So an oversized or never-finished first frame is never buffered, decoded or parsed.
 *
 * Why raw bytes rather than the alternatives: `ws` applies one `maxPayload` to every socket of a server and
 * cannot raise it per socket, so a small limit there would also cap authenticated frames; two servers cannot
 * hand a socket from one to the other after hello; and reading frame headers ourselves would duplicate the
 * parser (fragments, control frames, extended lengths) where one mistake reopens the hole. Counting raw bytes
 * needs no knowledge of the framing and also covers fragmented hellos and control-frame floods. The listener is
 * prepended so it runs before the parser for every chunk; a chunk that crosses the limit is the last one read.
 */
export class PreAuthGuard {
  private bytes = 0;
  private active = false;
  /** Destroy the socket on overrun (before hello), or only report it (while the hello is being decided). */
  private mode: 'destroy' | 'report' = 'destroy';

  constructor(
    private readonly socket: Duplex,
    private readonly pool: PendingBytePool,
    private readonly maxBytes: number,
    private readonly onOverrun: (reason: PreAuthOverrun, fatal: boolean, bytes: number) => void,
  ) {
    this.onData = this.onData.bind(this);
    this.onClose = this.onClose.bind(this);
  }

  /** Starts counting; call before the first chunk can be emitted (within the upgrade callback). */
  start(): void {
    if (this.active) return;
    this.active = true;
    this.socket.prependListener('data', this.onData);
    this.socket.on('close', this.onClose);
  }

  /**
   * The hello has been read: counting starts again from zero, and an overrun is only reported (the owner pauses
   * reading) rather than fatal, since a gateway may send its first commands right behind its hello.
   */
  restartForAuthentication(): void {
    if (!this.active) return;
    this.pool.release(this.bytes);
    this.bytes = 0;
    this.mode = 'report';
  }

  /**
   * Stops counting (session open, or the socket is gone) and gives the socket's bytes back to the pool. Both
   * listeners go, so a stopped guard is no longer held by its socket for the rest of a session.
   */
  stop(): void {
    if (!this.active) return;
    this.active = false;
    this.socket.off('data', this.onData);
    this.socket.off('close', this.onClose);
    this.pool.release(this.bytes);
    this.bytes = 0;
  }

  /** Bytes counted so far for this socket. */
  get counted(): number {
    return this.bytes;
  }

  private onClose(): void {
    this.stop();
  }

  private onData(chunk: Buffer | string): void {
    if (!this.active) return;
    const length = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    let reason: PreAuthOverrun | undefined;
    if (this.bytes + length > this.maxBytes) reason = 'hello_too_large';
    else if (!this.pool.tryAdd(length)) reason = 'node_pending_bytes';
    if (reason === undefined) {
      this.bytes += length;
      return;
    }
    const fatal = this.mode === 'destroy';
    const bytes = this.bytes + length;
    this.stop();
    // The owner marks the socket refused (or pauses it) first, so a frame completed by this very chunk is ignored.
    this.onOverrun(reason, fatal, bytes);
    if (fatal) this.socket.destroy();
  }
}

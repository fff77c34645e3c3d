import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { closeSocket } from './socket-session.js';

// A close frame of a refused socket is ~30 bytes behind nothing; if the kernel has not taken it by then, the
// peer is not reading and no one is waiting for the code.
const FLUSH_LIMIT_MS = 1_000;

/**
 * Refuses a socket without a close handshake: the close frame (so a well-behaved gateway still learns the code)
 * and a FIN are written, and the socket is destroyed as soon as they are flushed, instead of waiting up to
 * 30 s for the peer's answering close frame while it may keep sending.
 */
export function dropSocket(ws: WebSocket, socket: Duplex, code: number, reason: string): void {
  if (socket.destroyed) return;
  closeSocket(ws, code, reason);
  if (socket.destroyed) return;
  const destroy = (): void => {
    clearTimeout(timer);
    socket.destroy();
  };
  const timer = setTimeout(destroy, FLUSH_LIMIT_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.end(destroy);
}

import { connect } from 'node:net';

/** Resolves true once a RESP server at host:port answers a PING with any reply, false on any failure. */
export function pingOnce(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let settled = false;
    const finish = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.once('connect', () => socket.write('PING\r\n'));
    // A password-protected server answers -NOAUTH: it is still up, which is all this asks.
    socket.once('data', (chunk) => finish(chunk.length > 0 && (chunk[0] === 0x2b || chunk[0] === 0x2d)));
    socket.once('error', () => finish(false));
    socket.once('close', () => finish(false));
  });
}

/**
 * Polls until the server answers or `isGone()` says it died; `deadline` is a safety net for a server
 * that neither answers nor exits, not a test assertion.
 */
export async function waitForPing(
  host: string,
  port: number,
  opts: { deadlineMs: number; isGone?: () => boolean },
): Promise<boolean> {
  const until = Date.now() + opts.deadlineMs;
  while (Date.now() < until) {
    if (opts.isGone?.()) return false;
    if (await pingOnce(host, port, 500)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

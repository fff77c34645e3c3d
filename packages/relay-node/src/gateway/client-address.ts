import type { IncomingMessage } from 'node:http';

/** Normalizes IPv4-mapped IPv6 (`::ffff:10.0.0.1`) so one client has one spelling. */
function normalize(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/**
 * The address a socket's limits are counted against. Behind a load balancer every socket comes from the
 * balancer, so when the peer is a trusted proxy the client is the right-most X-Forwarded-For hop that is not
 * itself a trusted proxy; anything left of that could be forged by the client.
 */
export function clientAddress(req: IncomingMessage, trustedProxies: ReadonlySet<string>): string {
  const peer = normalize(req.socket.remoteAddress ?? 'unknown');
  if (!trustedProxies.has(peer)) return peer;
  const header = req.headers['x-forwarded-for'];
  const hops = (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((h) => normalize(h.trim()))
    .filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) {
    if (!trustedProxies.has(hops[i]!)) return hops[i]!;
  }
  return peer;
}

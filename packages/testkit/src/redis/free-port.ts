import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Where ports are handed out: below the kernel's ephemeral range. Outgoing connections (Redis clients, fetches,
 * WebSockets) take their local ports from that range, so a port reserved there can be taken by one of them in the
 * moment between the reservation and the child process binding it; below it only another reservation can.
 */
function reservableRange(): { low: number; high: number } {
  try {
    const [ephemeralLow] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (ephemeralLow !== undefined && ephemeralLow > 12_000) return { low: 10_000, high: ephemeralLow };
  } catch {
    // Not Linux: fall back to the kernel's own pick below.
  }
  return { low: 0, high: 0 };
}

/**
 * Ports fetch() refuses with "bad port": the Fetch standard's list from 6000 up (none below is ever handed out here).
 * A node given one would start, yet a test could never fetch its /metrics or /readyz.
 */
export const FETCH_BLOCKED_PORTS: ReadonlySet<number> = new Set([6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080]);

const range = reservableRange();
const span = range.high - range.low;
// Each test process walks its own stretch of the range from a random start, so parallel processes rarely meet.
let cursor = span > 0 ? Math.floor(Math.random() * span) : 0;

function tryBind(port: number, host: string): Promise<number | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(null));
    server.listen({ host, port, exclusive: true }, () => {
      const address = server.address();
      const bound = address !== null && typeof address !== 'string' ? address.port : null;
      server.close(() => resolve(bound));
    });
  });
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago. Another process may still grab it before the
 * caller binds, so whoever listens on it must be ready to retry; taking it from below the ephemeral range
 * makes that rare.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; span > 0 && attempt < 200; attempt += 1) {
    const port = range.low + (cursor % span);
    cursor += 1;
    if (FETCH_BLOCKED_PORTS.has(port)) continue;
    const bound = await tryBind(port, host);
    if (bound !== null) return bound;
  }
  for (let attempt = 0; attempt < 10; attempt += 1) {
    const picked = await tryBind(0, host);
    if (picked !== null && !FETCH_BLOCKED_PORTS.has(picked)) return picked;
  }
  throw new Error('could not find a free TCP port');
}

import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** A stretch of ports, `low` included, `high` excluded. */
export interface PortRange {
  low: number;
  high: number;
}

/**
 * Where ports are handed out: below the kernel's ephemeral range. Outgoing connections (Redis clients, fetches,
 * WebSockets) take their local ports from that range, so a port reserved there can be taken by one of them in the
 * moment between the reservation and the child process binding it; below it only another reservation can.
 */
function reservableRange(): PortRange {
  try {
    const [ephemeralLow] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (ephemeralLow !== undefined && ephemeralLow > 12_000) return { low: 10_000, high: ephemeralLow };
  } catch {
    // Not Linux: fall back to the kernel's own pick below.
  }
  return { low: 0, high: 0 };
}

/** How many test workers get a stretch of their own; the suites run two at once, and never more than this. */
export const PORT_STRETCHES = 8;

/**
 * The stretch of `range` that test worker `poolId` (vitest's VITEST_POOL_ID, from 1) takes its ports from. Workers
 * run side by side and a fault scenario holds a reserved port unbound for seconds (a node is down, or not yet
 * compiled), so two workers walking the same ports would sooner or later take one from each other; apart they cannot.
 * Without a pool id (a script, not a test) the whole range is used.
 */
export function portStretch(range: PortRange, poolId: number | undefined): PortRange {
  if (poolId === undefined || !Number.isInteger(poolId) || poolId < 1) return range;
  const size = Math.floor((range.high - range.low) / PORT_STRETCHES);
  const low = range.low + ((poolId - 1) % PORT_STRETCHES) * size;
  return { low, high: low + size };
}

/**
 * Ports fetch() refuses with "bad port": the Fetch standard's list from 6000 up (none below is ever handed out here).
 * A node given one would start, yet a test could never fetch its /metrics or /readyz.
 */
export const FETCH_BLOCKED_PORTS: ReadonlySet<number> = new Set([6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080]);

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
 * Hands out ports that were free a moment ago, walking `range` from `start` (an offset into it) so that a process
 * does not hand out the same port twice before it has walked the whole range.
 */
export function portAllocator(range: PortRange, start: number): (host?: string) => Promise<number> {
  const span = range.high - range.low;
  let cursor = span > 0 ? start % span : 0;
  return async (host = '127.0.0.1') => {
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
  };
}

const poolId = process.env.VITEST_POOL_ID === undefined ? undefined : Number(process.env.VITEST_POOL_ID);
/** The stretch this process's ports come from. */
export const ownPortStretch: PortRange = portStretch(reservableRange(), poolId);

/**
 * A TCP port on 127.0.0.1 that was free a moment ago. Another process may still grab it before the caller binds, so
 * whoever listens on it must be ready to retry; taking it from below the ephemeral range, in a stretch no other test
 * worker uses, leaves only processes outside the tests to do so. Successive files of one worker start at random
 * places in its stretch.
 */
export const freePort: (host?: string) => Promise<number> = portAllocator(
  ownPortStretch,
  Math.floor(Math.random() * Math.max(1, ownPortStretch.high - ownPortStretch.low)),
);

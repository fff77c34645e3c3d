import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FETCH_BLOCKED_PORTS, PORT_STRETCHES, freePort, ownPortStretch, portAllocator, portStretch } from '../src/redis/free-port.js';

// Below 10,000: no test reserves ports there, so probing these cannot take one from a running test.
const QUIET = { low: 6_600, high: 7_400 };

describe('freePort', () => {
  it('lists only ports fetch() refuses', async () => {
    for (const port of FETCH_BLOCKED_PORTS) {
      const refused = await fetch(`http://127.0.0.1:${port}/`).then(
        () => 'answered',
        (err: Error & { cause?: Error }) => err.cause?.message ?? err.message,
      );
      expect(refused, `port ${port}`).toBe('bad port');
    }
  });

  it('never hands out a port fetch() refuses, across a whole walk of its range', async () => {
    // 6660–6699 holds six blocked ports (6665–6669, 6679, 6697).
    const take = portAllocator({ low: 6_660, high: 6_700 }, 0);
    const seen = new Set<number>();
    for (let i = 0; i < 34; i += 1) seen.add(await take());
    expect(seen.size).toBeGreaterThan(20);
    for (const port of FETCH_BLOCKED_PORTS) expect(seen.has(port), `port ${port}`).toBe(false);
  });

  it('gives each test worker a stretch of its own, so two workers never hand out the same port', async () => {
    const stretches = Array.from({ length: PORT_STRETCHES }, (_, i) => portStretch(QUIET, i + 1));
    for (const [i, s] of stretches.entries()) {
      expect(s.low, `worker ${i + 1}`).toBeGreaterThanOrEqual(QUIET.low);
      expect(s.high, `worker ${i + 1}`).toBeLessThanOrEqual(QUIET.high);
      expect(s.high - s.low, `worker ${i + 1}`).toBe(100);
      if (i > 0) expect(s.low, `worker ${i + 1}`).toBeGreaterThanOrEqual(stretches[i - 1]!.high);
    }
    // Two workers starting at the same place, as two files could by chance.
    const first = portAllocator(portStretch(QUIET, 1), 0);
    const second = portAllocator(portStretch(QUIET, 2), 0);
    const a = new Set<number>();
    const b = new Set<number>();
    for (let i = 0; i < 50; i += 1) {
      a.add(await first());
      b.add(await second());
    }
    expect([...a].filter((port) => b.has(port))).toEqual([]);
  });

  it('takes this worker’s ports from its own stretch below the ephemeral range', async () => {
    const [ephemeralLow] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    const machine = { low: 10_000, high: ephemeralLow! };
    const poolId = Number(process.env.VITEST_POOL_ID);
    expect(poolId).toBeGreaterThanOrEqual(1);
    expect(ownPortStretch).toEqual(portStretch(machine, poolId));
    expect(ownPortStretch.high - ownPortStretch.low).toBeLessThan((machine.high - machine.low) / (PORT_STRETCHES - 1));
    for (let i = 0; i < 20; i += 1) {
      const port = await freePort();
      expect(port).toBeGreaterThanOrEqual(ownPortStretch.low);
      expect(port).toBeLessThan(ownPortStretch.high);
    }
  });
});

import { describe, expect, it } from 'vitest';
import { FETCH_BLOCKED_PORTS, freePort } from '../src/redis/free-port.js';

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
    // The walk is sequential from a random start, so one pass over the range meets 10080 (a blocked port) once.
    const seen = new Set<number>();
    for (let i = 0; i < 23_000; i += 1) seen.add(await freePort());
    expect(seen.size).toBeGreaterThan(1_000);
    for (const port of FETCH_BLOCKED_PORTS) expect(seen.has(port), `port ${port}`).toBe(false);
  }, 60_000);
});

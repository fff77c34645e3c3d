/** Shared pieces of the state contract suites: TTL constants and close-after-each-test tracking. */
import { afterEach } from 'vitest';

/**
 * A TTL short enough to wait out in a test, and long enough that what was just written with it is still there when
 * the next call looks (80 ms was not, once, under the full suite's load on a Redis Cluster).
 */
export const SHORT_TTL_MS = 500;
/** Comfortably past SHORT_TTL_MS, even on a busy machine's timers. */
export const PAST_SHORT_TTL_MS = 1_000;
/** A TTL no test outlives. */
export const LONG_TTL_MS = 60_000;

/** Wraps make() so whatever it returns is closed after each test of the enclosing describe. */
export function tracked<T extends { close(): Promise<void> }>(make: () => Promise<T>): () => Promise<T> {
  const made: T[] = [];
  afterEach(async () => {
    for (const store of made.splice(0)) await store.close();
  });
  return async () => {
    const store = await make();
    made.push(store);
    return store;
  };
}

/** Drains an async iterable into an array. */
export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

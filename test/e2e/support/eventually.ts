import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Retries `check` until it stops throwing, then returns its result; after `timeoutMs` rethrows the last failure.
 * For state the relay reaches asynchronously (what WeCom received, counters), never for "how fast".
 */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 15_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() >= deadline) throw err;
    }
    await sleep(intervalMs);
  }
}

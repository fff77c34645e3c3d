import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, createRedisBackend, type StateBackend } from '@wecom-relay/relay-node';
import { startStoppableRedis, type StoppableRedis } from './support/stoppable-redis.js';

/** Resolves what `p` settled to, or 'pending' if it had not settled after `boundMs` (a safety net, not a timing). */
async function settledWithin<T>(p: Promise<T>, boundMs: number): Promise<'resolved' | 'rejected' | 'pending'> {
  return Promise.race([
    p.then(
      () => 'resolved' as const,
      () => 'rejected' as const,
    ),
    sleep(boundMs).then(() => 'pending' as const),
  ]);
}

/** Polls `check` every 100 ms until it returns `want`, up to `boundMs`; resolves whether it did. */
async function becomes(check: () => boolean, want: boolean, boundMs: number): Promise<boolean> {
  const until = Date.now() + boundMs;
  while (Date.now() < until) {
    if (check() === want) return true;
    await sleep(100);
  }
  return check() === want;
}

// The same stall, seen from the state backend alone (in process): commands fail instead of waiting, readiness
// follows the server's answers rather than the open socket, and both come back when the server does.
describe('attack: the Redis state backend under a stalled server', () => {
  let redis: StoppableRedis;
  let backend: StateBackend;

  beforeAll(async () => {
    redis = await startStoppableRedis();
    backend = await createRedisBackend({
      redis: { kind: 'url', url: redis.url },
      bindings: 'redis',
      databasePath: ':memory:',
      prefix: 'stall:',
      logger: createLogger({ level: 'silent', nodeId: 'stall-backend' }),
      health: { commandTimeoutMs: 500, pingIntervalMs: 200, staleAfterMs: 1_000 },
    });
    await backend.bus.subscribe('stall-backend', () => undefined);
  }, 60_000);

  afterAll(async () => {
    redis?.resume();
    await backend?.close();
    await redis?.stop();
  }, 30_000);

  it('fails commands and turns not live while the server is stopped, and recovers by itself', async () => {
    expect(await becomes(() => backend.isLive(), true, 10_000)).toBe(true);
    await backend.sync.notePending('wk-stall', null);

    redis.pause();
    try {
      // Without a command timeout this write would wait for as long as the server is stopped.
      expect(await settledWithin(backend.sync.notePending('wk-stall', null), 10_000)).toBe('rejected');
      // The socket is still open; only the unanswered PINGs tell.
      expect(await becomes(() => backend.isLive(), false, 10_000)).toBe(true);
    } finally {
      redis.resume();
    }

    expect(await becomes(() => backend.isLive(), true, 10_000)).toBe(true);
    expect(await settledWithin(backend.sync.notePending('wk-stall', 'tok'), 10_000)).toBe('resolved');
    expect(await backend.sync.hasPending('wk-stall')).toBe(true);
  }, 60_000);

  it('remakes a connection that stays silent too long, and serves again once the server answers', async () => {
    const records: Array<Record<string, unknown>> = [];
    const logger = createLogger(
      { level: 'debug', nodeId: 'stall-backend-2' },
      { write: (line: string) => void records.push(JSON.parse(line) as Record<string, unknown>) },
    );
    const second = await createRedisBackend({
      redis: { kind: 'url', url: redis.url },
      bindings: 'redis',
      databasePath: ':memory:',
      prefix: 'stall2:',
      logger,
      health: { commandTimeoutMs: 500, pingIntervalMs: 200, staleAfterMs: 1_000, reconnectAfterMs: 1_500 },
    });
    const heard: string[] = [];
    try {
      await second.bus.subscribe('stall-backend-2', (m) => {
        if (m.kind === 'wake') heard.push(m.gatewayId);
      });
      expect(await becomes(() => second.isLive(), true, 10_000)).toBe(true);
      redis.pause();
      try {
        // Both connections: the one commands use and the bus subscriber.
        const reconnected = () =>
          new Set(records.filter((r) => r.msg === 'redis has not answered for too long; reconnecting').map((r) => r.connection));
        expect(await becomes(() => reconnected().size === 2, true, 10_000)).toBe(true);
      } finally {
        redis.resume();
      }
      expect(await becomes(() => second.isLive(), true, 15_000)).toBe(true);
      expect(await settledWithin(second.sync.notePending('wk-stall-2', null), 10_000)).toBe('resolved');
      // The subscriber came back subscribed: a wake-up published now is heard.
      await second.bus.publish('stall-backend-2', { kind: 'wake', gatewayId: 'gw-after', sentAt: Date.now() });
      expect(await becomes(() => heard.includes('gw-after'), true, 10_000)).toBe(true);
    } finally {
      await second.close();
    }
  }, 60_000);
});

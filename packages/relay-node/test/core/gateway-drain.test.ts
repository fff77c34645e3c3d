import { afterEach, describe, expect, it, vi } from 'vitest';
import { ERROR_CATALOG } from '../../src/errors/error-catalog.js';
import { TestClient, cleanup, startServer } from '../gateway/gateway-harness.js';

afterEach(async () => {
  vi.useRealTimers();
  await cleanup();
});

/** Yields to I/O without timers (setTimeout is faked in these tests); bounded by the wall clock. */
async function ioUntil(condition: () => boolean, what: string, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('GatewayServer.drain: sessions are closed spread over the window, not all at once', () => {
  it('closes N sessions at 0, spread/(N-1), ..., spread on the clock, each with 1012', async () => {
    const h = await startServer();
    const clients: TestClient[] = [];
    for (const gw of ['gw-1', 'gw-2', 'gw-3', 'gw-4']) clients.push(await TestClient.session(h.url, gw));
    expect(h.app.sessions).toHaveLength(4);

    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const closing = () => h.app.sessions.filter((s) => !s.isOpen).length;
    const { closeCode, message } = ERROR_CATALOG.SERVICE_RESTART;
    const drained = h.server.drain({ closeCode, reason: message, spreadMs: 9_000 });
    let done = false;
    void drained.then(() => (done = true));

    // The schedule: 0, 3000, 6000, 9000 ms.
    const schedule: Array<[number, number]> = [];
    for (const step of [0, 2_999, 1, 2_999, 1, 2_999, 1]) {
      await vi.advanceTimersByTimeAsync(step);
      schedule.push([step, closing()]);
    }
    expect(schedule.map(([, n]) => n)).toEqual([1, 1, 2, 2, 3, 3, 4]);
    expect(done).toBe(false);

    // Every client saw the restart code; drain resolves once every socket is gone.
    const seen = await Promise.all(clients.map((c) => c.closed));
    expect(seen.map((s) => s.code)).toEqual([closeCode, closeCode, closeCode, closeCode]);
    await ioUntil(() => done, 'drain to resolve');
    expect(h.server.sessionCount()).toBe(0);
  });

  it('a single session is closed at once; an unauthenticated socket is closed at once too', async () => {
    const h = await startServer();
    const session = await TestClient.session(h.url, 'gw-1');
    const anonymous = await TestClient.connect(h.url);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const drained = h.server.drain({ closeCode: 1012, reason: 'restart', spreadMs: 60_000 });
    await vi.advanceTimersByTimeAsync(0);
    expect(h.app.sessions.filter((s) => !s.isOpen)).toHaveLength(1);
    expect((await anonymous.closed).code).toBe(1012);
    expect((await session.closed).code).toBe(1012);
    await drained;
  });
});

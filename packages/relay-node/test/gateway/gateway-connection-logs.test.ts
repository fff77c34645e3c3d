import { afterEach, describe, expect, it, vi } from 'vitest';
import { TestClient, captureLogger, cleanup, startServer, until } from './gateway-harness.js';

afterEach(cleanup);

describe('gateway connection logging', () => {
  it('keeps no child logger per socket, yet every line about a session names its gateway, session and address', async () => {
    const { logger, lines } = captureLogger();
    const child = vi.spyOn(logger, 'child');
    const { url } = await startServer({ logger });
    const clients = [];
    for (let i = 0; i < 5; i++) clients.push(await TestClient.session(url, `gw-log-${i}`));
    clients[2]!.ws.close(1000, 'bye');
    await until(() => lines.some((l) => l.includes('gateway socket closed')), 'the close line');
    expect(child).not.toHaveBeenCalled();
    const opened = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'gateway session opened');
    expect(opened.map((l) => l.gatewayId).sort()).toEqual(['gw-log-0', 'gw-log-1', 'gw-log-2', 'gw-log-3', 'gw-log-4']);
    for (const line of opened) {
      expect(line.sessionId).toEqual(expect.any(String));
      expect(line.remoteAddress).toEqual(expect.any(String));
    }
    const closed = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'gateway socket closed');
    expect(closed).toMatchObject({ gatewayId: 'gw-log-2', code: 1000 });
  });
});

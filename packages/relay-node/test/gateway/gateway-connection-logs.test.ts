import { afterEach, describe, expect, it, vi } from 'vitest';
import { GatewaySessionClosedError } from '../../src/gateway/index.js';
import { TestClient, captureLogger, cleanup, gate, startServer, until } from './gateway-harness.js';

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

describe('a gateway that leaves mid-answer', () => {
  const lineOf = (logs: string[], msg: string): Record<string, unknown> | undefined =>
    logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === msg);
  // pino's numeric levels: 30 info, 50 error.
  const errors = (logs: string[]): unknown[] => logs.map((l) => JSON.parse(l) as { level: number }).filter((l) => l.level >= 50);

  it('is no error when it closes while its command is being handled: one info line', async () => {
    const { url, app, logs } = await startServer();
    const client = await TestClient.session(url, 'gw-leaves-cmd');
    const slow = gate();
    app.replyGates.set('r-left', slow.promise);
    client.send({ type: 'reply', id: 'r-left', external_user_id: 'wm-user', content: 'hi' });
    await until(() => app.commands.length === 1, 'the command to start');
    client.ws.close(1000, 'bye');
    await client.closed;
    slow.open();
    await until(() => lineOf(logs, 'gateway left before its command was answered') !== undefined, 'the info line');
    expect(lineOf(logs, 'gateway left before its command was answered')).toMatchObject({ level: 30, commandType: 'reply', requestId: 'r-left', gatewayId: 'gw-leaves-cmd' });
    expect(errors(logs)).toEqual([]);
  });

  it('but a session-closed error while the session is still open is the command failing: an error frame and an error line', async () => {
    const { url, logs } = await startServer();
    const client = await TestClient.session(url, 'gw-stays');
    client.send({ type: 'reply', id: 'r-elsewhere', external_user_id: 'wm-user', content: 'closed-elsewhere' });
    expect(await client.next()).toMatchObject({ type: 'error', code: 'INTERNAL', id: 'r-elsewhere' });
    expect(lineOf(logs, 'gateway command failed')).toMatchObject({ level: 50, requestId: 'r-elsewhere' });
    expect(lineOf(logs, 'gateway left before its command was answered')).toBeUndefined();
  });

  it('is no error when it closes while its session is being opened', async () => {
    const { url, app, logs } = await startServer();
    const opening = gate();
    app.openGate = opening.promise;
    const client = await TestClient.connect(url);
    client.hello('gw-leaves-open');
    await until(() => app.trace.includes('open-start:gw-leaves-open'), 'the session to start opening');
    client.ws.close(1000, 'bye');
    await client.closed;
    opening.open();
    await until(() => lineOf(logs, 'gateway left while its session was opening') !== undefined, 'the info line');
    expect(lineOf(logs, 'gateway left while its session was opening')).toMatchObject({ level: 30, gatewayId: 'gw-leaves-open' });
    expect(errors(logs)).toEqual([]);
  });

  it('but a session-closed error from opening a session still open fails the opening: closed 1011, an error line', async () => {
    const { url, app, logs } = await startServer();
    app.openError = new GatewaySessionClosedError();
    const client = await TestClient.connect(url);
    client.hello('gw-open-fails');
    expect(await client.next()).toEqual({ type: 'ack', id: 'hello' });
    expect((await client.closed).code).toBe(1011);
    expect(lineOf(logs, 'session open failed; closing so the gateway reconnects')).toMatchObject({ level: 50, gatewayId: 'gw-open-fails' });
  });
});

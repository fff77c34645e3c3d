import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { WebSocket } from 'ws';
import { isRelayError } from '../../src/errors/relay-error.js';
import { GatewayServer } from '../../src/gateway/index.js';
import { TestApp, TestClient, cleanup, gate, startServer, until } from './gateway-harness.js';

afterEach(cleanup);

/** Resolves with how a fresh connection attempt ended: a close code, or the connection error's code. */
function attempt(url: string): Promise<number | string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.on('close', (code) => resolve(code));
    ws.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
}

describe('gateway server lifecycle', () => {
  it('close() is idempotent, closes sessions with 1001 and runs each onSessionClose once', async () => {
    const { url, app, server, observer } = await startServer();
    const a = await TestClient.session(url, 'gw-a');
    const b = await TestClient.session(url, 'gw-b', 'cs');
    expect(server.sessionCount()).toBe(2);
    expect(observer.connectedNow).toBe(2);

    const first = server.close();
    const second = server.close();
    await Promise.all([first, second]);
    await server.close();

    expect((await a.closed).code).toBe(1001);
    expect((await b.closed).code).toBe(1001);
    expect(app.closes.map((c) => `${c.session.gatewayId}:${c.code}`).sort()).toEqual(['gw-a:1001', 'gw-b:1001']);
    expect(server.sessionCount()).toBe(0);
    expect(observer.connectedNow).toBe(0);
    expect(await attempt(url)).toBe('ECONNREFUSED');
  });

  it('close() can use another code and waits for close handlers already running', async () => {
    const { url, app, server } = await startServer();
    const client = await TestClient.session(url, 'gw-slow-close');
    const closing = gate();
    let handlerEntered = false;
    let handlerDone = false;
    const original = app.onSessionClose.bind(app);
    app.onSessionClose = async (session, info) => {
      handlerEntered = true;
      await closing.promise;
      await original(session, info);
      handlerDone = true;
    };
    const closed = server.close({ code: 1012, reason: 'restart' });
    expect((await client.closed).code).toBe(1012);
    let resolved = false;
    void closed.then(() => (resolved = true));
    await until(() => handlerEntered, 'onSessionClose to start');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(resolved).toBe(false);
    closing.open();
    await closed;
    expect(handlerDone).toBe(true);
  });

  it('close() cuts off a peer that never finishes the close handshake', async () => {
    const { url, server, app } = await startServer({ closeGraceMs: 100 });
    const client = await TestClient.session(url, 'gw-deaf');
    client.ws.pause();
    await server.close();
    // 1006 on the server side: it never got the peer's close frame and dropped the socket itself.
    expect(app.closes.map((c) => c.code)).toEqual([1006]);
    expect(server.sessionCount()).toBe(0);
  });

  it('stopAccepting() closes new sockets with 1012 and leaves existing sessions alone', async () => {
    const { url, server } = await startServer();
    const existing = await TestClient.session(url, 'gw-existing');
    server.stopAccepting();
    expect(await attempt(url)).toBe(1012);
    existing.send({ type: 'reply', id: 'r-still', external_user_id: 'wm-user', content: 'hi' });
    expect(await existing.next()).toEqual({ type: 'ack', id: 'r-still' });
    expect(server.sessionCount()).toBe(1);
  });

  it('drain() closes every session with the given code and refuses newcomers meanwhile', async () => {
    const { url, app, server } = await startServer();
    const clients = await Promise.all(['gw-d1', 'gw-d2', 'gw-d3'].map((id) => TestClient.session(url, id)));
    const pendingSocket = await TestClient.connect(url);

    await server.drain({ closeCode: 1012, reason: 'relay node is restarting; reconnect', spreadMs: 60 });

    for (const client of clients) expect((await client.closed).code).toBe(1012);
    expect((await pendingSocket.closed).code).toBe(1012);
    expect(app.closes.map((c) => c.code)).toEqual([1012, 1012, 1012]);
    expect(server.sessionCount()).toBe(0);
    expect(await attempt(url)).toBe(1012);
  });

  it('address() before start() throws NOT_READY; close() before start() resolves', async () => {
    const server = new GatewayServer({ port: 0, app: new TestApp(), logger: pino({ level: 'silent' }) });
    let thrown: unknown;
    try {
      server.address();
    } catch (err) {
      thrown = err;
    }
    expect(isRelayError(thrown) && thrown.code).toBe('NOT_READY');
    await server.close();
  });

  it('reports connections and frames to the observer', async () => {
    const { url, observer, server } = await startServer();
    const client = await TestClient.session(url, 'gw-metrics');
    client.send('nope');
    await client.next();
    client.send({ type: 'reply', id: 'r-m', external_user_id: 'wm-user', content: 'hi' });
    await client.next();
    expect(observer.connectedNow).toBe(1);
    expect(observer.inbound).toEqual(['hello', 'reply']);
    expect(observer.outbound).toEqual(['ack', 'binding_cleared', 'error', 'ack']);
    expect(observer.frameErrors).toEqual(['FRAME_MALFORMED']);
    await server.close();
    expect(observer.connectedNow).toBe(0);
  });

  it('survives an observer whose hooks throw', async () => {
    const { url } = await startServer({
      observer: {
        connected: () => {
          throw new Error('metrics down');
        },
        frameError: () => {
          throw new Error('metrics down');
        },
        framesIn: () => {
          throw new Error('metrics down');
        },
        framesOut: () => {
          throw new Error('metrics down');
        },
      },
    });
    const client = await TestClient.session(url, 'gw-bad-metrics');
    client.send('nope');
    expect(await client.next()).toMatchObject({ code: 'FRAME_MALFORMED' });
    client.send({ type: 'reply', id: 'r-x', external_user_id: 'wm-user', content: 'hi' });
    expect(await client.next()).toEqual({ type: 'ack', id: 'r-x' });
  });
});

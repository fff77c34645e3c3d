import { afterEach, describe, expect, it } from 'vitest';
import { isRelayError } from '../../src/errors/relay-error.js';
import { isGatewaySessionClosedError } from '../../src/gateway/index.js';
import { TestClient, cleanup, startServer, until } from './gateway-harness.js';

afterEach(cleanup);

describe('gateway liveness and resource limits', () => {
  it('terminates a gateway that does not answer pings and tells the application', async () => {
    const { url, app, server } = await startServer({ pingIntervalMs: 30, pongTimeoutMs: 100 });
    const mute = await TestClient.connect(url, { autoPong: false });
    mute.hello('gw-mute');
    expect(await mute.next()).toEqual({ type: 'ack', id: 'hello' });

    expect((await mute.closed).code).toBe(1006);
    await until(() => app.closes.length === 1, 'onSessionClose');
    expect(app.closes[0]!.session.gatewayId).toBe('gw-mute');
    expect(server.sessionCount()).toBe(0);
  });

  it('keeps a gateway that answers pings', async () => {
    const { url, server } = await startServer({ pingIntervalMs: 30, pongTimeoutMs: 2_000 });
    const client = await TestClient.session(url, 'gw-alive');
    await until(() => client.pings >= 4, 'several ping rounds');
    client.send({ type: 'reply', id: 'r-alive', external_user_id: 'wm-user', content: 'hi' });
    expect(await client.next()).toEqual({ type: 'ack', id: 'r-alive' });
    expect(server.sessionCount()).toBe(1);
  });

  it('caps unauthenticated sockets per address with 4008 and frees a slot once a socket says hello', async () => {
    const { url, logs } = await startServer({ maxPendingSocketsPerAddress: 3, helloTimeoutMs: 30_000 });
    const first = await TestClient.connect(url);
    const second = await TestClient.connect(url);
    const third = await TestClient.connect(url);
    const refused = await TestClient.connect(url);
    expect((await refused.closed).code).toBe(4008);

    first.hello('gw-slot');
    expect(await first.next()).toEqual({ type: 'ack', id: 'hello' });
    const late = await TestClient.connect(url);
    late.hello('gw-late');
    expect(await late.next()).toEqual({ type: 'ack', id: 'hello' });

    // first and late are sessions now; second, third and this one fill the address again.
    const filler = await TestClient.connect(url);
    const refusedAgain = await TestClient.connect(url);
    expect((await refusedAgain.closed).code).toBe(4008);
    second.ws.close(1000);
    await second.closed;
    await until(() => logs.some((l) => l.includes('"code":1000') && l.includes('gateway socket closed')), 'the server to see it');
    expect(third.ws.readyState).toBe(third.ws.OPEN);
    expect(filler.ws.readyState).toBe(filler.ws.OPEN);
    const afterLeave = await TestClient.connect(url);
    afterLeave.hello('gw-after-leave');
    expect(await afterLeave.next()).toEqual({ type: 'ack', id: 'hello' });
  });

  it('rejects send and closes 4009 when a gateway stops reading, instead of buffering without bound', async () => {
    const chunk = 256 * 1024;
    const { url, app } = await startServer({ maxBufferedBytes: 64 * 1024 });
    const client = await TestClient.session(url, 'gw-stuck');
    const session = app.sessions[0]!;
    client.ws.pause();

    let accepted = 0;
    let refusal: unknown;
    for (let i = 0; i < 400 && refusal === undefined; i++) {
      const content = String(i % 10).repeat(chunk);
      session
        .send({ type: 'inbound', id: `m-${i}`, externalUserId: 'wm-user', msgType: 'text', content, timestamp: 1, wecomMsgType: 'text' })
        .catch((err: unknown) => (refusal ??= err));
      accepted++;
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(isRelayError(refusal) && refusal.code).toBe('SEND_BUFFER_FULL');
    expect(accepted).toBeLessThan(400);
    expect(session.isOpen).toBe(false);
    const late = await session.send({ type: 'ack', id: 'late' }).then(
      () => 'written',
      (err: unknown) => err,
    );
    expect(isGatewaySessionClosedError(late)).toBe(true);

    client.ws.resume();
    expect((await client.closed).code).toBe(4009);
    await until(() => app.closes.length === 1, 'onSessionClose');
    expect(app.closes[0]!.code).toBe(4009);
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { FakeWebSocket, PingingFakeWebSocket } from './support/fake-websocket.js';
import { flush, rig } from './support/harness.js';

afterEach(() => FakeWebSocket.reset());

describe('RelayGateway connection', () => {
  it('says hello in ack mode with its token and features, and reports connecting then open', async () => {
    const r = rig();
    const started = r.gateway.start();
    await flush();
    expect(r.socket().url).toBe('ws://relay.test/');
    r.socket().accept();
    await started;
    expect(r.socket().frames()[0]).toEqual({
      type: 'hello',
      gateway_id: 'gw-1',
      auth_token: 'token-1',
      delivery: 'ack',
      features: ['send_failed'],
    });
    expect(r.states.map((s) => s.state)).toEqual(['connecting', 'open']);
    expect(r.gateway.state).toBe('open');
  });

  it('speaks the cs dialect when asked', async () => {
    const r = rig({ dialect: 'cs' });
    const started = r.gateway.start();
    await flush();
    r.socket().accept(true);
    await started;
    expect(r.socket().frames()[0]).toMatchObject({ type: 'cs_hello', gateway_id: 'gw-1', platform: 'wecom', delivery: 'ack' });
  });

  it('reconnects after 1006, 1012 and 1001 with exponential delays, jittered, capped, reset once open', async () => {
    const r = rig({ reconnect: { initialDelayMs: 100, maxDelayMs: 800, factor: 2, jitter: 0.5 } });
    void r.gateway.start();
    await flush();
    r.socket().serverClose(1006);
    await flush();
    // Never opened: each failure doubles the delay (random 0 = no jitter taken off).
    for (const code of [1012, 1001, 1006, 1006]) {
      const delay = r.states.at(-1)!.delayMs!;
      await r.clock.advance(delay);
      r.socket().serverClose(code);
      await flush();
    }
    const delays = r.states.filter((s) => s.state === 'reconnecting').map((s) => s.delayMs);
    expect(delays).toEqual([100, 200, 400, 800, 800]);
    expect(r.states.filter((s) => s.state === 'reconnecting').map((s) => s.code)).toEqual([1006, 1012, 1001, 1006, 1006]);

    // Jitter takes up to half off: random 0.5 → 3/4 of the delay.
    r.clock.randomValue = 0.5;
    await r.clock.advance(800);
    r.socket().accept();
    await flush();
    r.socket().serverClose(1012, 'node restarting');
    await flush();
    expect(r.states.at(-1)).toMatchObject({ state: 'reconnecting', delayMs: 75, code: 1012, reason: 'node restarting' });
    // Nothing happens before the delay, a new socket after it.
    const sockets = FakeWebSocket.instances.length;
    await r.clock.advance(74);
    expect(FakeWebSocket.instances.length).toBe(sockets);
    await r.clock.advance(1);
    expect(FakeWebSocket.instances.length).toBe(sockets + 1);
  });

  it.each([
    [4003, 'auth_failed'],
    [4004, 'superseded'],
    [4001, 'protocol'],
    [4002, 'protocol'],
  ] as const)('stops for good on close code %i (%s) with a typed reason', async (code, kind) => {
    const r = rig();
    const stopped: unknown[] = [];
    r.gateway.on('stopped', (reason) => {
      stopped.push(reason);
    });
    const started = r.gateway.start();
    await flush();
    r.socket().serverOpen();
    r.socket().serverClose(code, 'refused');
    await expect(started).rejects.toMatchObject({ code: kind });
    await flush();
    expect(stopped).toEqual([{ kind, code, reason: 'refused' }]);
    expect(r.gateway.stopReason).toEqual({ kind, code, reason: 'refused' });
    expect(r.gateway.state).toBe('closed');
    await r.clock.advance(120_000);
    expect(FakeWebSocket.instances.length).toBe(1);
    await expect(r.gateway.reply('wm-1', 'hi')).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('replaces a socket on which nothing arrived within livenessTimeoutMs; any frame keeps it alive', async () => {
    const r = rig({ livenessTimeoutMs: 1_000 });
    void r.gateway.start();
    await flush();
    r.socket().accept();
    await flush();
    await r.clock.advance(900);
    r.socket().serverSend({ type: 'binding_cleared', gateway_id: 'gw-1' });
    await r.clock.advance(900);
    expect(FakeWebSocket.instances.length).toBe(1);
    await r.clock.advance(100);
    expect(r.socket().closedByClient?.code).toBe(4000);
    expect(r.states.at(-1)).toMatchObject({ state: 'reconnecting', code: 4000 });
  });

  it('counts the relay WebSocket pings as liveness where the implementation reports them (75 s by default)', async () => {
    const r = rig({ WebSocket: PingingFakeWebSocket });
    void r.gateway.start();
    await flush();
    const socket = r.socket() as PingingFakeWebSocket;
    socket.accept();
    for (let i = 0; i < 5; i++) {
      await r.clock.advance(30_000);
      socket.serverPing();
    }
    expect(FakeWebSocket.instances.length).toBe(1);
    await r.clock.advance(75_000);
    expect(socket.closedByClient).not.toBeNull();
    expect(r.states.at(-1)).toMatchObject({ state: 'reconnecting', code: 4000 });
  });

  it('without visible pings and without livenessTimeoutMs (browsers) a quiet socket is kept', async () => {
    const r = rig();
    void r.gateway.start();
    await flush();
    r.socket().accept();
    await r.clock.advance(600_000);
    expect(FakeWebSocket.instances.length).toBe(1);
    expect(r.gateway.state).toBe('open');
  });

  it('abandons an attempt that gets no hello acknowledgement in time', async () => {
    const r = rig({ helloTimeoutMs: 5_000 });
    void r.gateway.start();
    await flush();
    r.socket().serverOpen();
    await r.clock.advance(5_000);
    expect(r.states.at(-1)).toMatchObject({ state: 'reconnecting', code: 4000 });
  });

  it('close() stops reconnecting and reports closed', async () => {
    const r = rig();
    void r.gateway.start();
    await flush();
    r.socket().accept();
    await flush();
    await r.gateway.close();
    expect(r.socket().closedByClient).toEqual({ code: 1000, reason: 'gateway closing' });
    expect(r.gateway.stopReason).toMatchObject({ kind: 'closed', code: 1000 });
    await r.clock.advance(60_000);
    expect(FakeWebSocket.instances.length).toBe(1);
    expect(r.states.at(-1)?.state).toBe('closed');
  });

  it('asks for the WebSocket to be injected where the runtime has none', async () => {
    const { RelayGateway } = await import('../src/index.js');
    const global = globalThis as { WebSocket?: unknown };
    const saved = global.WebSocket;
    delete global.WebSocket;
    try {
      expect(() => new RelayGateway({ url: 'ws://x/', gatewayId: 'g', authToken: 't' })).toThrow(/pass one.*ws/);
    } finally {
      if (saved !== undefined) global.WebSocket = saved;
    }
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { gatewayAuthToken } from '@wecom-relay/shared';
import { SECRET, TestClient, cleanup, gate, startServer, until } from './gateway-harness.js';

afterEach(cleanup);

describe('gateway hello', () => {
  it('acks a plain hello with the exact deployed frame, then opens the session', async () => {
    const { url, app, server } = await startServer();
    const client = await TestClient.connect(url);
    client.hello('gw-plain');

    expect(await client.next()).toEqual({ type: 'ack', id: 'hello' });
    expect(await client.next()).toEqual({ type: 'binding_cleared', gateway_id: 'gw-plain' });
    expect(app.trace).toEqual(['auth:gw-plain', 'open-start:gw-plain', 'open-done:gw-plain']);
    expect(server.sessionCount()).toBe(1);
    const session = app.sessions[0]!;
    expect(session.gatewayId).toBe('gw-plain');
    expect(session.dialect).toBe('plain');
    expect(session.delivery).toBe('legacy');
    expect(session.resumeAfter).toBeUndefined();
    expect(session.remoteAddress).toBe('127.0.0.1');
    expect(session.isOpen).toBe(true);
  });

  it('acks a cs hello with cs_ack / cs_hello and answers in the cs dialect afterwards', async () => {
    const { url, app } = await startServer();
    const client = await TestClient.connect(url);
    client.hello('gw-cs', 'cs', { delivery: 'ack', resume_after: 'd-17' });

    const ack = await client.next();
    expect(ack).toMatchObject({ type: 'cs_ack', id: 'cs_hello' });
    expect(Object.keys(ack).every((k) => ['type', 'id', 'platform'].includes(k))).toBe(true);
    expect(await client.next()).toMatchObject({ type: 'cs_binding_cleared', gateway_id: 'gw-cs' });
    client.send({ type: 'cs_reply', platform: 'wecom', id: 'r1', customer_id: 'wm-user', content: 'hi' });
    expect(await client.next()).toMatchObject({ type: 'cs_ack', id: 'r1' });

    const session = app.sessions[0]!;
    expect(session.dialect).toBe('cs');
    expect(session.delivery).toBe('ack');
    expect(session.resumeAfter).toBe('d-17');
  });

  it('gives every connection its own sessionId, even for the same gateway', async () => {
    const { url, app } = await startServer();
    await TestClient.session(url, 'gw-twice');
    await TestClient.session(url, 'gw-twice');
    expect(app.sessions).toHaveLength(2);
    expect(app.sessions[0]!.sessionId).not.toBe(app.sessions[1]!.sessionId);
  });

  it('closes a silent socket with 4001 after helloTimeoutMs', async () => {
    const { url, app } = await startServer({ helloTimeoutMs: 100 });
    const client = await TestClient.connect(url);
    expect((await client.closed).code).toBe(4001);
    expect(app.trace).toEqual([]);
  });

  it('closes with 4002 when the first frame is a valid command other than hello', async () => {
    const { url, app } = await startServer();
    const client = await TestClient.connect(url);
    client.send({ type: 'reply', id: 'r1', external_user_id: 'wm-user', content: 'hi' });
    expect((await client.closed).code).toBe(4002);
    expect(app.commands).toEqual([]);
    expect(client.unread).toBe(0);
  });

  it('answers an undecodable first frame with an error, then closes with 4002', async () => {
    const { url } = await startServer();
    const client = await TestClient.connect(url);
    client.send('{"type":"hello",');
    expect(await client.next()).toMatchObject({ type: 'error', code: 'FRAME_MALFORMED' });
    expect((await client.closed).code).toBe(4002);
  });

  it('answers an invalid cs hello in the cs dialect before closing with 4002', async () => {
    const { url } = await startServer();
    const client = await TestClient.connect(url);
    client.send({ type: 'cs_hello', platform: 'wecom', gateway_id: 'gw' });
    expect(await client.next()).toMatchObject({ type: 'cs_error', code: 'FRAME_INVALID' });
    expect((await client.closed).code).toBe(4002);
  });

  it('closes with 4003 when authentication is refused, without opening a session', async () => {
    const { url, app, server } = await startServer();
    const client = await TestClient.connect(url);
    client.send({ type: 'hello', gateway_id: 'gw-x', auth_token: gatewayAuthToken('wrong-secret', 'gw-x') });
    expect((await client.closed).code).toBe(4003);
    expect(client.unread).toBe(0);
    expect(app.trace).toEqual(['auth:gw-x']);
    expect(server.sessionCount()).toBe(0);
  });

  it('refuses a token minted for another gateway id', async () => {
    const { url } = await startServer();
    const client = await TestClient.connect(url);
    client.send({ type: 'hello', gateway_id: 'gw-victim', auth_token: gatewayAuthToken(SECRET, 'gw-attacker') });
    expect((await client.closed).code).toBe(4003);
  });

  it('never writes an auth_token to the log, accepted or refused', async () => {
    const { url, logs } = await startServer();
    const good = gatewayAuthToken(SECRET, 'gw-log');
    const bad = gatewayAuthToken('other', 'gw-log');
    await TestClient.session(url, 'gw-log');
    const refused = await TestClient.connect(url);
    refused.send({ type: 'hello', gateway_id: 'gw-log', auth_token: bad });
    await refused.closed;
    const text = logs.join('');
    expect(text).toContain('gw-log');
    expect(text).not.toContain(good);
    expect(text).not.toContain(bad);
  });

  it('answers a second hello with HELLO_REPEATED and keeps the session', async () => {
    const { url } = await startServer();
    const client = await TestClient.session(url, 'gw-rep');
    client.hello('gw-rep');
    expect(await client.next()).toMatchObject({ type: 'error', code: 'HELLO_REPEATED' });
    client.send({ type: 'reply', id: 'r1', external_user_id: 'wm-user', content: 'still here' });
    expect(await client.next()).toEqual({ type: 'ack', id: 'r1' });
  });

  it('holds commands that arrive during onSessionOpen and runs them after it, in order', async () => {
    const { url, app } = await startServer();
    const opening = gate();
    app.openGate = opening.promise;
    const client = await TestClient.connect(url);
    client.hello('gw-early');
    expect(await client.next()).toEqual({ type: 'ack', id: 'hello' });
    client.send({ type: 'reply', id: 'early-1', external_user_id: 'wm-user', content: 'a' });
    client.send({ type: 'reply', id: 'early-2', external_user_id: 'wm-user', content: 'b' });
    await until(() => app.trace.includes('open-start:gw-early'), 'onSessionOpen to start');
    await client.roundTrip();
    expect(app.commands).toEqual([]);

    opening.open();
    expect(await client.next()).toMatchObject({ type: 'binding_cleared' });
    expect(await client.next()).toEqual({ type: 'ack', id: 'early-1' });
    expect(await client.next()).toEqual({ type: 'ack', id: 'early-2' });
    expect(app.trace).toEqual(['auth:gw-early', 'open-start:gw-early', 'open-done:gw-early', 'cmd:reply:early-1', 'cmd:reply:early-2']);
  });

  it('does not open a session for a gateway that left while authentication ran', async () => {
    const { url, app, server } = await startServer();
    const auth = gate();
    app.authGate = auth.promise;
    const client = await TestClient.connect(url);
    client.hello('gw-gone');
    await until(() => app.trace.includes('auth:gw-gone'), 'authenticate to start');
    client.ws.close(1000);
    await client.closed;
    auth.open();
    // A fresh connection proves the node is still serving and nothing leaked into the session set.
    await TestClient.session(url, 'gw-after');
    expect(server.sessionCount()).toBe(1);
    expect(app.trace).toEqual(['auth:gw-gone', 'auth:gw-after', 'open-start:gw-after', 'open-done:gw-after']);
    expect(app.closes).toEqual([]);
  });
});

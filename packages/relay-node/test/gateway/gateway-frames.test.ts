import { afterEach, describe, expect, it } from 'vitest';
import { TestClient, cleanup, gate, startServer, until } from './gateway-harness.js';

afterEach(cleanup);

const reply = (id: string, content = 'hello', user = 'wm-user') => ({ type: 'reply', id, external_user_id: user, content });

describe('gateway frames after hello', () => {
  it('answers malformed, unknown, invalid and too-long frames with error frames and keeps serving', async () => {
    const { url, observer } = await startServer();
    const client = await TestClient.session(url, 'gw-bad');

    client.send('this is not json');
    expect(await client.next()).toMatchObject({ type: 'error', code: 'FRAME_MALFORMED' });
    client.send({ type: 'teleport', id: 't-1' });
    expect(await client.next()).toMatchObject({ type: 'error', code: 'FRAME_UNKNOWN_TYPE', id: 't-1' });
    client.send({ type: 'reply', id: 'r-invalid', content: 'no user' });
    const invalid = await client.next();
    expect(invalid).toMatchObject({ type: 'error', code: 'FRAME_INVALID', id: 'r-invalid' });
    expect(String(invalid.message)).toContain('external_user_id');
    client.send(reply('r-long', 'x'.repeat(10241)));
    expect(await client.next()).toMatchObject({ type: 'error', code: 'CONTENT_TOO_LONG', id: 'r-long' });

    client.send(reply('r-ok'));
    expect(await client.next()).toEqual({ type: 'ack', id: 'r-ok' });
    expect(observer.frameErrors).toEqual(['FRAME_MALFORMED', 'FRAME_UNKNOWN_TYPE', 'FRAME_INVALID', 'CONTENT_TOO_LONG']);
  });

  it('answers a binary frame with FRAME_BINARY and keeps serving', async () => {
    const { url } = await startServer();
    const client = await TestClient.session(url, 'gw-bin');
    client.ws.send(Buffer.from([1, 2, 3, 4]));
    expect(await client.next()).toMatchObject({ type: 'error', code: 'FRAME_BINARY' });
    client.send(reply('r-after-binary'));
    expect(await client.next()).toEqual({ type: 'ack', id: 'r-after-binary' });
  });

  it('answers a frame over maxFrameBytes with FRAME_TOO_LARGE naming its id, and keeps serving', async () => {
    const { url, app } = await startServer({ maxFrameBytes: 1024 });
    const client = await TestClient.session(url, 'gw-big');
    const big = { type: 'image_reply', image_data: 'A'.repeat(1500), image_mime: 'image/png', external_user_id: 'wm-user', id: 'img-7' };
    client.send(big);
    expect(await client.next()).toMatchObject({ type: 'error', code: 'FRAME_TOO_LARGE', id: 'img-7' });
    client.send(reply('r-after-big'));
    expect(await client.next()).toEqual({ type: 'ack', id: 'r-after-big' });
    expect(app.commands.map((c) => c.type)).toEqual(['reply']);
  });

  it('closes a frame beyond the hard cap with 1009 and goes on serving other gateways', async () => {
    const { url, app } = await startServer({ maxFrameBytes: 1024 });
    const bystander = await TestClient.session(url, 'gw-bystander');
    const offender = await TestClient.session(url, 'gw-offender');
    offender.send(reply('r-huge', 'y'.repeat(5000)));
    expect((await offender.closed).code).toBe(1009);

    bystander.send(reply('r-bystander'));
    expect(await bystander.next()).toEqual({ type: 'ack', id: 'r-bystander' });
    await until(() => app.closes.length === 1, 'the offender session to close');
    expect(app.closes[0]!.session.gatewayId).toBe('gw-offender');
    expect(app.commands.map((c) => ('id' in c ? c.id : c.type))).toEqual(['r-bystander']);
  });

  it('refuses create_binding and unbind_all for another gateway id with GATEWAY_ID_MISMATCH', async () => {
    const { url, app } = await startServer();
    const client = await TestClient.session(url, 'gw-mine');
    client.send({ type: 'create_binding', gateway_id: 'gw-theirs' });
    expect(await client.next()).toMatchObject({ type: 'error', code: 'GATEWAY_ID_MISMATCH' });
    client.send({ type: 'unbind_all', gateway_id: 'gw-theirs' });
    expect(await client.next()).toMatchObject({ type: 'error', code: 'GATEWAY_ID_MISMATCH', id: 'unbind_all' });
    expect(app.commands).toEqual([]);

    client.send({ type: 'create_binding', gateway_id: 'gw-mine' });
    expect(await client.next()).toMatchObject({ type: 'create_binding_ack', token: 'a1b2c3d4' });
    client.send({ type: 'unbind_all', gateway_id: 'gw-mine' });
    expect(await client.next()).toEqual({ type: 'ack', id: 'unbind_all' });
  });

  it('maps the cs unbind_all mismatch id into the cs dialect', async () => {
    const { url } = await startServer();
    const client = await TestClient.session(url, 'gw-cs-mine', 'cs');
    client.send({ type: 'cs_unbind_all', platform: 'wecom', gateway_id: 'gw-other' });
    expect(await client.next()).toMatchObject({ type: 'cs_error', code: 'GATEWAY_ID_MISMATCH', id: 'cs_unbind_all' });
  });

  it('turns a RelayError from the application into an error frame with its code and the request id', async () => {
    const { url } = await startServer();
    const client = await TestClient.session(url, 'gw-app-err');
    client.send(reply('r-nb', 'not-bound'));
    expect(await client.next()).toEqual({
      type: 'error',
      code: 'NOT_BOUND',
      id: 'r-nb',
      message: 'that WeCom user is not bound to this gateway',
      wecom_errcode: 95018,
    });
  });

  it('turns any other application failure into INTERNAL without leaking its message', async () => {
    const { url, logs } = await startServer();
    const client = await TestClient.session(url, 'gw-crash');
    client.send(reply('r-crash', 'crash'));
    const frame = await client.next();
    expect(frame).toMatchObject({ type: 'error', code: 'INTERNAL', id: 'r-crash' });
    expect(JSON.stringify(frame)).not.toContain('handler bug');
    client.send(reply('r-after-crash'));
    expect(await client.next()).toEqual({ type: 'ack', id: 'r-after-crash' });
    const line = logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'gateway command failed');
    expect(line?.err).toMatchObject({ message: 'handler bug' });
  });

  it('handles one session’s commands one at a time in arrival order, while pings keep flowing', async () => {
    const { url, app } = await startServer({ pingIntervalMs: 20, pongTimeoutMs: 5_000 });
    const client = await TestClient.session(url, 'gw-order');
    const slow = gate();
    app.replyGates.set('r1', slow.promise);

    client.send(reply('r1'));
    client.send(reply('r2'));
    client.send('garbage');
    client.send(reply('r3'));
    await until(() => app.commands.length === 1, 'r1 to start');
    const pingsBefore = client.pings;
    await until(() => client.pings >= pingsBefore + 2, 'server pings during the slow command');
    await client.roundTrip();
    expect(app.commands.map((c) => ('id' in c ? c.id : c.type))).toEqual(['r1']);
    expect(client.unread).toBe(0);

    slow.open();
    expect(await client.next()).toEqual({ type: 'ack', id: 'r1' });
    expect(await client.next()).toEqual({ type: 'ack', id: 'r2' });
    expect(await client.next()).toMatchObject({ type: 'error', code: 'FRAME_MALFORMED' });
    expect(await client.next()).toEqual({ type: 'ack', id: 'r3' });
  });

  it('keeps sessions independent: a slow command on one gateway does not hold another', async () => {
    const { url, app } = await startServer();
    const slowClient = await TestClient.session(url, 'gw-slow');
    const fastClient = await TestClient.session(url, 'gw-fast');
    const slow = gate();
    app.replyGates.set('slow-1', slow.promise);
    slowClient.send(reply('slow-1'));
    await until(() => app.commands.length === 1, 'the slow command to start');
    fastClient.send(reply('fast-1'));
    expect(await fastClient.next()).toEqual({ type: 'ack', id: 'fast-1' });
    slow.open();
    expect(await slowClient.next()).toEqual({ type: 'ack', id: 'slow-1' });
  });

  it('loses nothing and keeps order when a burst outruns a blocked handler (reads pause, then resume)', async () => {
    const { url, app, logs } = await startServer({ pingIntervalMs: 20, pongTimeoutMs: 5_000 });
    const client = await TestClient.session(url, 'gw-burst');
    const slow = gate();
    app.replyGates.set('b-0', slow.promise);
    const ids = Array.from({ length: 300 }, (_, i) => `b-${i}`);
    for (const id of ids) client.send(reply(id));
    await until(() => logs.some((l) => l.includes('pausing reads')), 'the server to stop reading');
    slow.open();
    const acks: unknown[] = [];
    for (let i = 0; i < ids.length; i++) acks.push((await client.next()).id);
    expect(acks).toEqual(ids);
    expect(app.sessions[0]!.isOpen).toBe(true);
  });

  it('closes a text frame that is not UTF-8 with 1007 and goes on serving', async () => {
    const { url } = await startServer();
    const broken = await TestClient.session(url, 'gw-utf8');
    broken.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    expect((await broken.closed).code).toBe(1007);
    const healthy = await TestClient.session(url, 'gw-healthy');
    healthy.send(reply('r-healthy'));
    expect(await healthy.next()).toEqual({ type: 'ack', id: 'r-healthy' });
  });
});

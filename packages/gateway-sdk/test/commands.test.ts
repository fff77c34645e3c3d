import { afterEach, describe, expect, it } from 'vitest';
import { GatewayError } from '../src/index.js';
import { FakeWebSocket } from './support/fake-websocket.js';
import { flush, inbound, rig } from './support/harness.js';

afterEach(() => FakeWebSocket.reset());

async function openRig(options: Parameters<typeof rig>[0] = {}) {
  const r = rig(options);
  void r.gateway.start();
  await flush();
  r.socket().accept();
  await flush();
  return r;
}

describe('RelayGateway commands', () => {
  it('reply resolves with WeCom msgid (and parts) when the relay acknowledges it', async () => {
    const r = await openRig();
    const answer = r.gateway.reply('wm-1', 'hello', { id: 'req-1' });
    await flush();
    expect(r.socket().frames().at(-1)).toEqual({ type: 'reply', id: 'req-1', external_user_id: 'wm-1', content: 'hello' });
    r.socket().serverSend({ type: 'ack', id: 'req-1', msgid: 'wx-9', parts: [{ msgid: 'wx-9' }, { msgid: 'wx-10' }] });
    await expect(answer).resolves.toEqual({ id: 'req-1', msgid: 'wx-9', parts: [{ msgid: 'wx-9' }, { msgid: 'wx-10' }] });
  });

  it('reply rejects with a typed error carrying the relay code, request id and WeCom errcode', async () => {
    const r = await openRig();
    const answer = r.gateway.reply('wm-1', 'hello', { id: 'req-2' });
    await flush();
    r.socket().serverSend({ type: 'error', message: 'window closed', code: 'SEND_WINDOW_CLOSED', id: 'req-2', wecom_errcode: 95018 });
    const err = (await answer.catch((e: unknown) => e)) as GatewayError;
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({ code: 'SEND_WINDOW_CLOSED', requestId: 'req-2', wecomErrcode: 95018, message: 'window closed' });
  });

  it('an error frame naming no request is emitted as an error event', async () => {
    const r = await openRig();
    const errors: unknown[] = [];
    r.gateway.on('error', (e) => {
      errors.push(e);
    });
    r.socket().serverSend({ type: 'error', message: 'bad frame', code: 'FRAME_INVALID' });
    await flush();
    expect(errors).toEqual([{ type: 'error', message: 'bad frame', code: 'FRAME_INVALID' }]);
  });

  it('a request times out with TIMEOUT and is forgotten', async () => {
    const r = await openRig({ requestTimeoutMs: 2_000 });
    const answer = r.gateway.reply('wm-1', 'hello', { id: 'req-3' }).catch((e: unknown) => e);
    await r.clock.advance(2_000);
    expect(await answer).toMatchObject({ code: 'TIMEOUT', requestId: 'req-3' });
    // A late ack for it is ignored, not misapplied.
    r.socket().serverSend({ type: 'ack', id: 'req-3', msgid: 'late' });
    await flush();
  });

  it('a reply waiting when the socket drops is sent again with the same id on the next socket', async () => {
    const r = await openRig();
    const answer = r.gateway.reply('wm-1', 'hello', { id: 'stable-1' });
    await flush();
    r.socket().serverClose(1012);
    await flush();
    await r.clock.advance(r.states.at(-1)!.delayMs!);
    r.socket().accept();
    await flush();
    expect(r.socket().frames().filter((f) => f.type === 'reply')).toEqual([
      { type: 'reply', id: 'stable-1', external_user_id: 'wm-1', content: 'hello' },
    ]);
    r.socket().serverSend({ type: 'ack', id: 'stable-1', msgid: 'wx-1' });
    await expect(answer).resolves.toMatchObject({ msgid: 'wx-1' });
  });

  it('replies through the delivery get ids derived from the event, the same when it is redelivered', async () => {
    const r = await openRig();
    let fail = true;
    r.gateway.on('inbound', async (m, delivery) => {
      void delivery.reply(`echo ${m.content}`).catch(() => undefined);
      void delivery.reply('second').catch(() => undefined);
      if (fail) {
        fail = false;
        throw new Error('crash after replying');
      }
    });
    r.socket().serverSend(inbound('wx-msg-1', '1-0'));
    await flush();
    const firstIds = r.socket().frames().filter((f) => f.type === 'reply').map((f) => f.id);
    await r.clock.advance(r.states.at(-1)!.delayMs!);
    r.socket().accept();
    r.socket().serverSend(inbound('wx-msg-1', '1-0'));
    await flush();
    const secondIds = r.socket().frames().filter((f) => f.type === 'reply').map((f) => f.id);
    expect(firstIds).toEqual(['wx-msg-1:1', 'wx-msg-1:2']);
    // Sent again because they were still waiting, and the handler's second run reuses the very same ids.
    expect([...new Set(secondIds)]).toEqual(['wx-msg-1:1', 'wx-msg-1:2']);
  });

  it('createBinding resolves with the token and link; unbindAll with the ack; both in the cs dialect too', async () => {
    const r = await openRig({ dialect: 'cs' });
    const offer = r.gateway.createBinding();
    await flush();
    expect(r.socket().frames().at(-1)).toEqual({ type: 'cs_create_binding', gateway_id: 'gw-1', platform: 'wecom' });
    r.socket().serverSend({ type: 'cs_create_binding_ack', platform: 'wecom', token: 'ab12cd34', customer_service_url: 'https://x/?scene_param=ab12cd34' });
    await expect(offer).resolves.toEqual({ token: 'ab12cd34', customerServiceUrl: 'https://x/?scene_param=ab12cd34' });
    const unbind = r.gateway.unbindAll();
    await flush();
    r.socket().serverSend({ type: 'cs_ack', platform: 'wecom', id: 'cs_unbind_all' });
    await expect(unbind).resolves.toBeUndefined();
  });

  it('createBinding rejects with the relay code when refused', async () => {
    const r = await openRig();
    const offer = r.gateway.createBinding();
    await flush();
    r.socket().serverSend({ type: 'error', message: 'slow down', code: 'RATE_LIMITED', id: 'create_binding' });
    await expect(offer).rejects.toMatchObject({ code: 'RATE_LIMITED' });
  });

  it('requests made while reconnecting wait for the socket; too many are refused rather than queued', async () => {
    const r = rig({ maxPendingRequests: 2 });
    void r.gateway.start();
    await flush();
    const a = r.gateway.reply('wm-1', 'a', { id: 'a' });
    const b = r.gateway.reply('wm-1', 'b', { id: 'b' });
    await expect(r.gateway.reply('wm-1', 'c', { id: 'c' })).rejects.toMatchObject({ code: 'TOO_MANY_PENDING' });
    r.socket().accept();
    await flush();
    expect(r.socket().frames().filter((f) => f.type === 'reply').map((f) => f.id)).toEqual(['a', 'b']);
    r.socket().serverSend({ type: 'ack', id: 'a' });
    r.socket().serverSend({ type: 'ack', id: 'b' });
    await expect(Promise.all([a, b])).resolves.toEqual([{ id: 'a' }, { id: 'b' }]);
  });

  it('refuses request ids the relay would confuse with its own answers', async () => {
    const r = await openRig();
    await expect(r.gateway.reply('wm-1', 'x', { id: 'hello' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(r.gateway.reply('wm-1', 'x', { id: 'x'.repeat(257) })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('imageReply sends bytes as base64', async () => {
    const r = await openRig();
    void r.gateway.imageReply('wm-1', new Uint8Array([137, 80, 78, 71]), 'image/png', { id: 'img-1' }).catch(() => undefined);
    await flush();
    expect(r.socket().frames().at(-1)).toEqual({
      type: 'image_reply',
      id: 'img-1',
      external_user_id: 'wm-1',
      image_data: 'iVBORw==',
      image_mime: 'image/png',
    });
  });

  it('close() rejects requests still waiting when the socket is gone', async () => {
    const r = rig();
    void r.gateway.start();
    await flush();
    const answer = r.gateway.reply('wm-1', 'x', { id: 'z' });
    await r.gateway.close();
    await expect(answer).rejects.toMatchObject({ code: 'CLOSED' });
  });
});

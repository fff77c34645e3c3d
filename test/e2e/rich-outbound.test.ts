import { describe, expect, it } from 'vitest';
import type { GatewayClient, WireFrame } from '@wecom-relay/gateway-client';
import { SAMPLE_AMR, SAMPLE_MP4, SAMPLE_PNG } from '@wecom-relay/fake-wecom';
import { bindByScan } from './support/binding-steps.js';
import { newUserId, useRelayStack, type RelayStack } from './support/relay-stack.js';

const stack = useRelayStack();

/** A rich_outbound gateway and a bound customer who has just written (window open). */
async function conversation(s: RelayStack, features: string[] = ['rich_outbound']) {
  const gw = await s.gateway({ features });
  const user = newUserId();
  await bindByScan(s, gw, user);
  const hi = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'hi' });
  await gw.waitFor((f) => f.type === 'inbound' && f.id === hi.msgid);
  return { gw, user };
}

let seq = 0;
/** Sends a frame and resolves with the ack or error naming its id. */
async function request(gw: GatewayClient, frame: Record<string, unknown>): Promise<WireFrame> {
  const id = `rq-${++seq}`;
  const from = gw.received.length;
  gw.sendFrame({ ...frame, id });
  return gw.waitFor((f) => (f.type === 'ack' || f.type === 'error') && f.id === id, 15_000, from);
}

const b64 = (b: Buffer) => b.toString('base64');

describe('rich_outbound: a gateway sends everything kf/send_msg can', () => {
  it('file, voice, video, image: uploaded from the frame, sent with the media WeCom stored', async () => {
    const s = stack();
    const { gw, user } = await conversation(s);
    const pdf = Buffer.from('%PDF-1.4 invoice 42\n', 'latin1');
    const cases = [
      { msgtype: 'file', media: pdf, mime: 'application/pdf', filename: 'invoice.pdf' },
      { msgtype: 'voice', media: SAMPLE_AMR, mime: 'voice/amr' },
      { msgtype: 'video', media: SAMPLE_MP4, mime: 'video/mp4' },
      { msgtype: 'image', media: SAMPLE_PNG, mime: 'image/png' },
    ];
    for (const c of cases) {
      const ack = await request(gw, {
        type: 'send',
        external_user_id: user,
        msgtype: c.msgtype,
        [c.msgtype]: { media_data: b64(c.media), media_mime: c.mime, ...(c.filename ? { filename: c.filename } : {}) },
      });
      expect(ack, c.msgtype).toMatchObject({ type: 'ack' });
      const sent = (await s.fake.control.sent({ touser: user })).find((m) => m.msgid === ack.msgid);
      expect(sent, c.msgtype).toMatchObject({ msgtype: c.msgtype, media_base64: b64(c.media) });
    }
  }, 60_000);

  it('link, miniprogram, msgmenu, location reach WeCom in its own shape (thumbnails uploaded)', async () => {
    const s = stack();
    const { gw, user } = await conversation(s);
    // Four messages after one customer message: within WeCom's 5.
    const link = await request(gw, {
      type: 'send',
      external_user_id: user,
      msgtype: 'link',
      link: { title: 'Order', desc: 'status', url: 'https://example.com/o/1', thumb_data: b64(SAMPLE_PNG) },
    });
    const mini = await request(gw, {
      type: 'send',
      external_user_id: user,
      msgtype: 'miniprogram',
      miniprogram: { appid: 'wx123', title: 'Shop', pagepath: 'pages/index', thumb_data: b64(SAMPLE_PNG) },
    });
    const menu = await request(gw, {
      type: 'send',
      external_user_id: user,
      msgtype: 'msgmenu',
      msgmenu: {
        head_content: 'Pick one',
        list: [
          { type: 'click', click: { id: '101', content: 'Yes' } },
          { type: 'view', view: { url: 'https://example.com', content: 'Site' } },
        ],
      },
    });
    const loc = await request(gw, {
      type: 'send',
      external_user_id: user,
      msgtype: 'location',
      location: { latitude: 23.1, longitude: 113.3, name: 'Shop', address: 'Guangzhou' },
    });
    for (const a of [link, mini, menu, loc]) expect(a).toMatchObject({ type: 'ack' });
    const sent = await s.fake.control.sent({ touser: user });
    const body = (msgid: unknown) => sent.find((m) => m.msgid === msgid)?.body ?? {};
    expect(body(link.msgid)['link']).toMatchObject({ title: 'Order', desc: 'status', url: 'https://example.com/o/1', thumb_media_id: expect.any(String) });
    expect(body(link.msgid)['link']).not.toHaveProperty('thumb_data');
    expect(body(mini.msgid)['miniprogram']).toMatchObject({ appid: 'wx123', pagepath: 'pages/index', thumb_media_id: expect.any(String) });
    expect(body(menu.msgid)['msgmenu']).toEqual({
      head_content: 'Pick one',
      list: [
        { type: 'click', click: { id: '101', content: 'Yes' } },
        { type: 'view', view: { url: 'https://example.com', content: 'Site' } },
      ],
    });
    expect(body(loc.msgid)['location']).toEqual({ latitude: 23.1, longitude: 113.3, name: 'Shop', address: 'Guangzhou' });
  }, 60_000);

  it("WeCom's limits are checked before anything is sent, each refusal naming its limit", async () => {
    const s = stack();
    const { gw, user } = await conversation(s);
    const before = await s.fake.control.sent({ touser: user });
    const refused = async (frame: Record<string, unknown>) => request(gw, { type: 'send', external_user_id: user, ...frame });
    expect(await refused({ msgtype: 'voice', voice: { media_data: b64(SAMPLE_PNG) } })).toMatchObject({
      code: 'MEDIA_INVALID',
      message: expect.stringContaining('AMR'),
    });
    expect(await refused({ msgtype: 'video', video: { media_data: b64(Buffer.from('not an mp4 at all')) } })).toMatchObject({
      code: 'MEDIA_INVALID',
      message: expect.stringContaining('MP4'),
    });
    expect(await refused({ msgtype: 'file', file: { media_data: b64(Buffer.from('tiny')) } })).toMatchObject({
      code: 'MEDIA_INVALID',
      message: expect.stringContaining('more than 5'),
    });
    const bigVoice = Buffer.concat([SAMPLE_AMR, Buffer.alloc(2 * 1024 * 1024)]);
    expect(await refused({ msgtype: 'voice', voice: { media_data: b64(bigVoice) } })).toMatchObject({
      code: 'MEDIA_TOO_LARGE',
      message: expect.stringContaining(String(2 * 1024 * 1024)),
    });
    expect(await refused({ msgtype: 'link', link: { title: 'x'.repeat(129), url: 'https://e.com', thumb_data: b64(SAMPLE_PNG) } })).toMatchObject({
      code: 'FRAME_INVALID',
      message: expect.stringMatching(/link\.title must be 1-128 UTF-8 bytes/),
    });
    expect(await refused({ msgtype: 'link', link: { title: 't', url: 'ftp://e.com', thumb_data: b64(SAMPLE_PNG) } })).toMatchObject({
      code: 'FRAME_INVALID',
      message: expect.stringMatching(/link\.url must be an http\(s\) URL/),
    });
    const eleven = Array.from({ length: 11 }, (_, i) => ({ type: 'click', click: { id: String(i), content: 'c' } }));
    expect(await refused({ msgtype: 'msgmenu', msgmenu: { list: eleven } })).toMatchObject({
      code: 'FRAME_INVALID',
      message: expect.stringMatching(/msgmenu\.list must have at most 10 items/),
    });
    expect(await refused({ msgtype: 'location', location: { latitude: 91, longitude: 0 } })).toMatchObject({
      code: 'FRAME_INVALID',
      message: expect.stringMatching(/location\.latitude must be -90\.\.90/),
    });
    expect(await s.fake.control.sent({ touser: user })).toEqual(before);
  }, 60_000);

  it('recalls its own message, not another gateway\'s; WeCom refuses a recall after 2 minutes', async () => {
    const s = stack();
    const { gw, user } = await conversation(s);
    const sent = await request(gw, { type: 'send', external_user_id: user, msgtype: 'text', text: { content: 'oops, wrong customer' } });
    expect(await request(gw, { type: 'recall', msgid: sent.msgid })).toMatchObject({ type: 'ack' });
    expect((await s.fake.control.sent({ touser: user })).find((m) => m.msgid === sent.msgid)?.recalled).toBe(true);

    const other = await conversation(s);
    expect(await request(other.gw, { type: 'recall', msgid: sent.msgid })).toMatchObject({ type: 'error', code: 'NOT_YOUR_MESSAGE' });

    const late = await request(gw, { type: 'send', external_user_id: user, msgtype: 'text', text: { content: 'later' } });
    await s.fake.control.advanceClock(121_000);
    expect(await request(gw, { type: 'recall', msgid: late.msgid })).toMatchObject({ type: 'error', code: 'WECOM_API_ERROR', wecom_errcode: 95020 });
  }, 60_000);

  it('hands the session to a human and back, reading the state each time', async () => {
    const s = stack();
    const { gw, user } = await conversation(s, ['rich_outbound', 'session_events']);
    expect(await request(gw, { type: 'service_state', external_user_id: user })).toMatchObject({ type: 'ack', service_state: 0 });
    expect(await request(gw, { type: 'service_state', external_user_id: user, service_state: 3 })).toMatchObject({
      type: 'error',
      code: 'FRAME_INVALID',
    });
    expect(
      await request(gw, { type: 'service_state', external_user_id: user, service_state: 3, servicer_userid: 'agent-li' }),
    ).toMatchObject({ type: 'ack', service_state: 3, servicer_userid: 'agent-li' });
    expect(await request(gw, { type: 'send', external_user_id: user, msgtype: 'text', text: { content: 'bot' } })).toMatchObject({
      type: 'error',
      code: 'SESSION_TAKEN_OVER',
    });
    expect(await request(gw, { type: 'service_state', external_user_id: user, service_state: 1 })).toMatchObject({ type: 'ack', service_state: 1 });
    expect(await request(gw, { type: 'send', external_user_id: user, msgtype: 'text', text: { content: 'bot again' } })).toMatchObject({
      type: 'ack',
    });
  }, 60_000);

  it('a gateway that did not ask gets the unknown-frame error it always got, and nothing is sent', async () => {
    const s = stack();
    const { gw, user } = await conversation(s, []);
    const before = await s.fake.control.sent({ touser: user });
    const err = await request(gw, { type: 'send', external_user_id: user, msgtype: 'text', text: { content: 'x' } });
    expect(err).toEqual({ type: 'error', message: 'unknown frame type "send"', code: 'FRAME_UNKNOWN_TYPE', id: err.id });
    expect(await s.fake.control.sent({ touser: user })).toEqual(before);
  }, 60_000);
});

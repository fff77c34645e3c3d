import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_PNG, startFakeWecom, type FakeWecom } from '../src/index.js';
import { WecomCaller } from './support/wecom-caller.js';

let fake: FakeWecom;
let wecom: WecomCaller;
let token: string;

beforeAll(async () => {
  fake = await startFakeWecom({});
  wecom = new WecomCaller(fake);
  token = await wecom.token();
});
afterAll(() => fake.close());
afterEach(() => fake.reset());

const HOUR = 3600 * 1000;

async function customerSays(user: string, content = 'hi'): Promise<void> {
  await fake.customerMessage({ external_userid: user, msgtype: 'text', content, deliver: false });
}

describe('kf/send_msg', () => {
  it('allows 5 messages after a customer message, then 95001 until the customer speaks again', async () => {
    await customerSays('wmFive');
    for (let i = 1; i <= 5; i++) expect((await wecom.sendText('wmFive', `reply ${i}`, {}, token)).errcode).toBe(0);
    expect((await wecom.sendText('wmFive', 'reply 6', {}, token)).errcode).toBe(95001);

    await customerSays('wmFive', 'again');
    expect((await wecom.sendText('wmFive', 'reply 7', {}, token)).errcode).toBe(0);
    expect(fake.sent({ touser: 'wmFive' }).map((m) => m.content)).toEqual([
      'reply 1',
      'reply 2',
      'reply 3',
      'reply 4',
      'reply 5',
      'reply 7',
    ]);
  });

  it('answers 95002 past 48 h and for a customer who never wrote', async () => {
    await customerSays('wmLate');
    fake.advanceClock(48 * HOUR + 1000);
    const fresh = await wecom.token();
    expect((await wecom.sendText('wmLate', 'too late', {}, fresh)).errcode).toBe(95002);
    expect((await wecom.sendText('wmStranger', 'hello?', {}, fresh)).errcode).toBe(95002);
    token = fresh;
  });

  it('answers 95018 while a human servicer has the session', async () => {
    await customerSays('wmHuman');
    const trans = await wecom.post(
      'kf/service_state/trans',
      { open_kfid: fake.options.openKfid, external_userid: 'wmHuman', service_state: 3, servicer_userid: 'lisi' },
      token,
    );
    expect(trans.errcode).toBe(0);
    expect(typeof trans['msg_code']).toBe('string');
    expect((await wecom.sendText('wmHuman', 'bot reply', {}, token)).errcode).toBe(95018);
    expect(fake.sessions()).toContainEqual(expect.objectContaining({ external_userid: 'wmHuman', service_state: 3, servicer_userid: 'lisi' }));
  });

  it('returns the client msgid, generates one when absent, and refuses a reused one', async () => {
    await customerSays('wmIds');
    expect(await wecom.sendText('wmIds', 'one', { msgid: 'client-id_1' }, token)).toMatchObject({ errcode: 0, msgid: 'client-id_1' });
    const generated = await wecom.sendText('wmIds', 'two', {}, token);
    expect(generated['msgid']).toMatch(/^[0-9A-Za-z_-]{1,32}$/);
    expect((await wecom.sendText('wmIds', 'three', { msgid: 'client-id_1' }, token)).errcode).toBe(95019);
    expect((await wecom.sendText('wmIds', 'four', { msgid: 'has space' }, token)).errcode).toBe(40058);
    expect((await wecom.sendText('wmIds', 'five', { msgid: 'x'.repeat(33) }, token)).errcode).toBe(40058);
    expect(fake.sent({ touser: 'wmIds' }).map((m) => m.content)).toEqual(['one', 'two']);
  });

  it('limits text to 2048 bytes and refuses empty text, unknown msgtypes and a wrong open_kfid', async () => {
    await customerSays('wmText');
    expect((await wecom.sendText('wmText', '字'.repeat(682), {}, token)).errcode).toBe(0); // 2046 bytes
    expect((await wecom.sendText('wmText', '字'.repeat(683), {}, token)).errcode).toBe(45002); // 2049 bytes
    expect((await wecom.sendText('wmText', '', {}, token)).errcode).toBe(44004);
    expect((await wecom.post('kf/send_msg', { touser: 'wmText', open_kfid: fake.options.openKfid, msgtype: 'sticker', sticker: {} }, token)).errcode).toBe(40008);
    expect((await wecom.post('kf/send_msg', { touser: 'wmText', open_kfid: 'wkNOPE', msgtype: 'text', text: { content: 'x' } }, token)).errcode).toBe(95000);
  });

  it('sends an image only with a media_id it issued, and records the bytes', async () => {
    await customerSays('wmPic');
    const upload = await wecom.upload('image', SAMPLE_PNG, 'reply.png', 'image/png', token);
    const send = (mediaId: string) =>
      wecom.post('kf/send_msg', { touser: 'wmPic', open_kfid: fake.options.openKfid, msgtype: 'image', image: { media_id: mediaId } }, token);
    expect((await send('unknown-media')).errcode).toBe(40007);
    expect((await send(upload['media_id'] as string)).errcode).toBe(0);
    const [sent] = fake.sent({ touser: 'wmPic' });
    expect(sent).toMatchObject({ msgtype: 'image', media_mime: 'image/png', via: 'send_msg' });
    expect(Buffer.from(sent?.media_base64 ?? '', 'base64').equals(SAMPLE_PNG)).toBe(true);
  });
});

describe('binding flow: add_contact_way, scan, send_msg_on_event', () => {
  it('a scanned URL yields enter_session with scene and scene_param, and a welcome_code usable once within 20 s', async () => {
    const way = await wecom.post('kf/add_contact_way', { open_kfid: fake.options.openKfid, scene: 'bind' }, token);
    expect(way['url']).toMatch(/^https:\/\/work\.weixin\.qq\.com\/kf\/kfc[0-9a-f]+\?enc_scene=ENC[\w-]+$/);
    const url = `${way['url'] as string}&scene_param=${encodeURIComponent('a=1&b=2')}`;

    const scan = await fake.scan({ external_userid: 'wmScan', url, deliver: false });
    expect(scan.scene).toBe('bind');
    expect(scan.scene_param).toBe('a=1&b=2');
    const event = (await wecom.sync({}, token))['msg_list'] as { event: Record<string, unknown> }[];
    expect(event[0]?.event).toEqual({
      event_type: 'enter_session',
      open_kfid: fake.options.openKfid,
      external_userid: 'wmScan',
      scene: 'bind',
      scene_param: 'a=1&b=2',
      welcome_code: scan.welcome_code,
    });

    const welcome = { code: scan.welcome_code, msgtype: 'text', text: { content: 'welcome' } };
    expect((await wecom.post('kf/send_msg_on_event', welcome, token)).errcode).toBe(0);
    expect((await wecom.post('kf/send_msg_on_event', welcome, token)).errcode).toBe(40029);
    expect(fake.sent({ touser: 'wmScan' })).toEqual([expect.objectContaining({ via: 'send_msg_on_event', content: 'welcome', code: scan.welcome_code })]);

    const late = await fake.scan({ external_userid: 'wmScan2', url, deliver: false });
    fake.advanceClock(21_000);
    expect((await wecom.post('kf/send_msg_on_event', { ...welcome, code: late.welcome_code }, token)).errcode).toBe(40029);
  });

  it('refuses a scan of a URL it did not issue, and a scene outside [0-9a-zA-Z_-]{0,32}', async () => {
    await expect(fake.scan({ external_userid: 'wmX', url: 'https://work.weixin.qq.com/kf/kfc0000?enc_scene=ENCforged' })).rejects.toThrow(
      /not a contact-way URL/,
    );
    expect((await wecom.post('kf/add_contact_way', { open_kfid: fake.options.openKfid, scene: 'no spaces' }, token)).errcode).toBe(40058);
  });

  it('refuses, with no enter_session, a hand-built link and an issued link whose parameters were altered', async () => {
    const way = await wecom.post('kf/add_contact_way', { open_kfid: fake.options.openKfid, scene: 'bind' }, token);
    const issued = way['url'] as string;
    const kfc = new URL(issued).pathname.split('/').pop() ?? '';
    const refused = [
      `https://work.weixin.qq.com/kfid/${kfc}?scene_param=abcd1234`, // built by hand from the kf link id
      `https://work.weixin.qq.com/kf/${kfc}?scene_param=abcd1234`,
      `${issued}X&scene_param=abcd1234`, // enc_scene changed
      `${issued}&scene=other&scene_param=abcd1234`, // a parameter added
      `${issued.replace('/kf/', '/kfid/')}&scene_param=abcd1234`, // its parameters copied into another link
      `${issued}&scene_param=abcd1234&scene_param=ffff0000`,
    ];
    for (const url of refused) {
      const err = await fake.scan({ external_userid: 'wmForged', url, deliver: false }).catch((e: unknown) => e);
      expect(err, url).toMatchObject({ code: 'CONTROL_SCAN_REFUSED' });
    }
    expect((await wecom.sync({}, token))['msg_list']).toEqual([]);
  });

  it('passes scene_param on only for a link created with a non-empty scene', async () => {
    const withScene = (await wecom.post('kf/add_contact_way', { open_kfid: fake.options.openKfid, scene: 'bind' }, token))['url'];
    const noScene = (await wecom.post('kf/add_contact_way', { open_kfid: fake.options.openKfid }, token))['url'];
    const bound = await fake.scan({ external_userid: 'wmScene', url: `${withScene as string}&scene_param=abcd1234`, deliver: false });
    expect(bound.scene_param).toBe('abcd1234');
    const lost = await fake.scan({ external_userid: 'wmNoScene', url: `${noScene as string}&scene_param=abcd1234`, deliver: false });
    expect(lost.scene_param).toBeNull();
    const events = ((await wecom.sync({}, token))['msg_list'] as { event: Record<string, unknown> }[]).map((m) => m.event);
    expect(events[0]).toMatchObject({ external_userid: 'wmScene', scene: 'bind', scene_param: 'abcd1234' });
    expect(events[1]).toMatchObject({ external_userid: 'wmNoScene', scene: '' });
    expect(events[1]).not.toHaveProperty('scene_param');
  });

  it('keeps issued links valid across reset, as relays cache them', async () => {
    const url = (await wecom.post('kf/add_contact_way', { open_kfid: fake.options.openKfid, scene: 'bind' }, token))['url'];
    fake.reset();
    const scan = await fake.scan({ external_userid: 'wmAfterReset', url: `${url as string}&scene_param=abcd1234`, deliver: false });
    expect(scan.scene_param).toBe('abcd1234');
  });

  it('a scan opens the send window for a confirmation text', async () => {
    const way = await wecom.post('kf/add_contact_way', { open_kfid: fake.options.openKfid, scene: 'bind' }, token);
    await fake.scan({ external_userid: 'wmConfirm', url: way['url'] as string, with_welcome_code: false, deliver: false });
    expect((await wecom.sendText('wmConfirm', 'you are bound', {}, token)).errcode).toBe(0);
  });
});

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WECOM_ORIGIN } from '@wecom-relay/shared';
import { SAMPLE_PNG, type FakeWecom } from '../../../fake-wecom/src/index.js';
import { clientFor, customerWrites, startFake } from './wecom-test-kit.js';

let fake: FakeWecom;

beforeAll(async () => {
  fake = await startFake({});
});
afterAll(() => fake.close());
afterEach(() => fake.reset());

const kfid = () => fake.options.openKfid;

describe('KfApi against the fake', () => {
  it('pulls every message by following has_more and next_cursor', async () => {
    const { client } = clientFor(fake);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await customerWrites(fake, 'wmPull', `m${i}`));
    const seen: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await client.kf.syncMsg({ openKfid: kfid(), limit: 2, ...(cursor ? { cursor } : {}) });
      seen.push(...page.msg_list.map((m) => m.msgid));
      cursor = page.next_cursor;
      if (page.has_more === 0) break;
    }
    expect(seen).toEqual(ids);
  });

  it('keeps a page usable when one item has an unexpected shape', async () => {
    const { client, logs } = clientFor(fake);
    await fake.customerMessage({ external_userid: 'wmOdd', msgtype: 'text', text: { content: 42 }, deliver: false });
    const good = await customerWrites(fake, 'wmOdd', 'fine');
    const page = await client.kf.syncMsg({ openKfid: kfid() });
    expect(page.msg_list.map((m) => m.msgid)).toEqual([good]);
    expect(page.msg_list[0]?.origin).toBe(WECOM_ORIGIN.CUSTOMER);
    expect(logs.text()).toContain('sync_msg item skipped');
  });

  it('sends text and images, generating a client msgid when none is given', async () => {
    const { client } = clientFor(fake);
    await customerWrites(fake, 'wmSend');
    const text = await client.kf.sendText({ openKfid: kfid(), toUser: 'wmSend', content: 'hi 你好' });
    expect(text.msgid).toMatch(/^[0-9A-Za-z_-]{32}$/);
    const mediaId = await client.media.upload('image', SAMPLE_PNG, 'p.png', 'image/png');
    const image = await client.kf.sendImage({ openKfid: kfid(), toUser: 'wmSend', mediaId, msgid: 'my-image-1' });
    expect(image.msgid).toBe('my-image-1');
    expect(fake.sent({ touser: 'wmSend' })).toEqual([
      expect.objectContaining({ msgid: text.msgid, msgtype: 'text', content: 'hi 你好' }),
      expect.objectContaining({ msgid: 'my-image-1', msgtype: 'image', media_mime: 'image/png' }),
    ]);
  });

  it('binds: contact-way URL, a scan with scene_param, a welcome text on the event code', async () => {
    const { client } = clientFor(fake);
    const url = await client.kf.addContactWay({ openKfid: kfid(), scene: 'bind' });
    const scanned = await fake.scan({ external_userid: 'wmBind', url: `${url}&scene_param=abcd1234`, deliver: false });
    const page = await client.kf.syncMsg({ openKfid: kfid() });
    const event = page.msg_list[0]?.event;
    expect(event).toMatchObject({ event_type: 'enter_session', scene_param: 'abcd1234', external_userid: 'wmBind' });
    expect(event?.welcome_code).toBe(scanned.welcome_code);

    await client.kf.sendTextOnEvent({ code: event?.welcome_code ?? '', content: 'bound!' });
    expect(fake.sent({ touser: 'wmBind' })).toEqual([expect.objectContaining({ via: 'send_msg_on_event', content: 'bound!' })]);
    const again = await client.kf.sendTextOnEvent({ code: event?.welcome_code ?? '', content: 'twice?' }).catch((e: unknown) => e);
    expect(again).toMatchObject({ code: 'WECOM_API_ERROR', errcode: 40029 });
  });

  it('moves a session and returns the msg_code', async () => {
    const { client } = clientFor(fake);
    await customerWrites(fake, 'wmEnd');
    const result = await client.kf.transServiceState({ openKfid: kfid(), externalUserId: 'wmEnd', serviceState: 4 });
    expect(result.msgCode).toEqual(expect.any(String));
    expect(fake.sessions()).toContainEqual(expect.objectContaining({ external_userid: 'wmEnd', service_state: 4 }));
    const closing = await client.kf.sendTextOnEvent({ code: result.msgCode ?? '', content: 'bye' });
    expect(closing.msgid).toBeTruthy();
  });

  it('surfaces 95000 for a wrong open_kfid', async () => {
    const { client } = clientFor(fake);
    const err = await client.kf.addContactWay({ openKfid: 'wkWRONG', scene: 'x' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'WECOM_API_ERROR', errcode: 95000, api: 'kf/add_contact_way' });
  });
});

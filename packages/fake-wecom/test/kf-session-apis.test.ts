import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_AMR, SAMPLE_PNG, startFakeWecom, type FakeWecom } from '../src/index.js';
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

const kfid = () => fake.options.openKfid;
const send = (touser: string, msgtype: string, payload: unknown) =>
  wecom.post('kf/send_msg', { touser, open_kfid: kfid(), msgtype, [msgtype]: payload }, token);

async function customerSays(user: string): Promise<void> {
  await fake.customerMessage({ external_userid: user, msgtype: 'text', content: 'hi', deliver: false });
}

describe('kf/send_msg structured kinds', () => {
  it("refuses what WeCom refuses: menu over 10 items (95008), bad item type (95009), missing thumbnail, a media id of another kind", async () => {
    await customerSays('wmA');
    const click = { type: 'click', click: { id: '1', content: 'c' } };
    expect((await send('wmA', 'msgmenu', { list: Array(11).fill(click) })).errcode).toBe(95008);
    expect((await send('wmA', 'msgmenu', { list: [{ type: 'phone', phone: {} }] })).errcode).toBe(95009);
    expect(await send('wmA', 'link', { title: 't', url: 'https://x' })).toMatchObject({ errcode: 40058, errmsg: expect.stringContaining('link.thumb_media_id') });
    expect((await send('wmA', 'location', { latitude: 100, longitude: 0 })).errcode).toBe(40058);
    const image = await wecom.upload('image', SAMPLE_PNG, 'a.png', 'image/png', token);
    expect((await send('wmA', 'voice', { media_id: image.media_id })).errcode).toBe(40007);
    const voice = await wecom.upload('voice', SAMPLE_AMR, 'a.amr', 'voice/amr', token);
    expect((await send('wmA', 'voice', { media_id: voice.media_id })).errcode).toBe(0);
    expect((await send('wmA', 'location', { latitude: 1, longitude: 2, name: 'n' })).errcode).toBe(0);
  });
});

describe('kf/recall_msg', () => {
  it('recalls a sent message once, within 2 minutes', async () => {
    await customerSays('wmR');
    const a = await wecom.sendText('wmR', 'one', {}, token);
    expect((await wecom.post('kf/recall_msg', { open_kfid: kfid(), msgid: a.msgid }, token)).errcode).toBe(0);
    expect(fake.sent({ touser: 'wmR' })[0]?.recalled).toBe(true);
    expect((await wecom.post('kf/recall_msg', { open_kfid: kfid(), msgid: a.msgid }, token)).errcode).toBe(95020);
    const b = await wecom.sendText('wmR', 'two', {}, token);
    fake.advanceClock(121_000);
    expect((await wecom.post('kf/recall_msg', { open_kfid: kfid(), msgid: b.msgid }, token)).errcode).toBe(95020);
    expect((await wecom.post('kf/recall_msg', { open_kfid: kfid(), msgid: 'nope' }, token)).errcode).toBe(40058);
  });
});

describe('sessions', () => {
  it('service_state/get follows trans and a servicer taking the session; the takeover is an event', async () => {
    await customerSays('wmS');
    const get = () => wecom.post('kf/service_state/get', { open_kfid: kfid(), external_userid: 'wmS' }, token);
    expect(await get()).toMatchObject({ errcode: 0, service_state: 0 });
    const taken = await fake.sessionChange({ external_userid: 'wmS', change_type: 1, servicer_userid: 'li' });
    expect(taken.message['event']).toMatchObject({ event_type: 'session_status_change', change_type: 1, new_servicer_userid: 'li', msg_code: expect.any(String) });
    expect(await get()).toMatchObject({ service_state: 3, servicer_userid: 'li' });
    expect((await wecom.sendText('wmS', 'bot', {}, token)).errcode).toBe(95018);
    const ended = await fake.sessionChange({ external_userid: 'wmS', change_type: 3 });
    expect(ended.message['event']).toMatchObject({ change_type: 3, old_servicer_userid: 'li' });
    expect(await get()).toMatchObject({ service_state: 4 });
  });

  it('a customer recalls only their own recent message', async () => {
    const m = await fake.customerMessage({ external_userid: 'wmC', msgtype: 'text', content: 'x', deliver: false });
    await expect(fake.recall({ external_userid: 'wmOther', recall_msgid: m.msgid })).rejects.toThrow(/wrote no message/);
    expect((await fake.recall({ external_userid: 'wmC', recall_msgid: m.msgid, deliver: false })).message['event']).toEqual({
      open_kfid: kfid(),
      event_type: 'user_recall_msg',
      external_userid: 'wmC',
      recall_msgid: m.msgid,
    });
  });

  it('a servicer rejects a customer with a session, and accepts them again (reject_customer_msg_switch_change)', async () => {
    await expect(fake.rejectSwitch({ external_userid: 'wmNobody', servicer_userid: 'li', reject: true })).rejects.toThrow(/no session/);
    await customerSays('wmR');
    const on = await fake.rejectSwitch({ external_userid: 'wmR', servicer_userid: 'li', reject: true, deliver: false });
    expect(on.message).toMatchObject({ origin: 4, msgtype: 'event' });
    expect(on.message['event']).toEqual({
      event_type: 'reject_customer_msg_switch_change',
      servicer_userid: 'li',
      external_userid: 'wmR',
      reject_switch: 1,
      open_kfid: kfid(),
    });
    const off = await fake.rejectSwitch({ external_userid: 'wmR', servicer_userid: 'li', reject: false, deliver: false });
    expect(off.message['event']).toMatchObject({ reject_switch: 0 });
  });

  it('a servicer goes off duty and back (servicer_status_change): no customer named', async () => {
    await expect(fake.servicerStatus({ servicer_userid: 'li', status: 3 })).rejects.toThrow(/status must be/);
    const off = await fake.servicerStatus({ servicer_userid: 'li', status: 2, stop_type: 1, deliver: false });
    expect(off.message['event']).toEqual({ event_type: 'servicer_status_change', servicer_userid: 'li', status: 2, stop_type: 1, open_kfid: kfid() });
    const on = await fake.servicerStatus({ servicer_userid: 'li', status: 1, deliver: false });
    expect(on.message['event']).toEqual({ event_type: 'servicer_status_change', servicer_userid: 'li', status: 1, open_kfid: kfid() });
  });

  it('kf/customer/batchget: 1-100 ids, unknown ones listed as invalid', async () => {
    await customerSays('wmP');
    fake.setCustomerProfile({ external_userid: 'wmP', nickname: 'Mei' });
    const r = await wecom.post('kf/customer/batchget', { external_userid_list: ['wmP', 'wmGhost'] }, token);
    expect(r).toMatchObject({ errcode: 0, customer_list: [{ external_userid: 'wmP', nickname: 'Mei' }], invalid_external_userid: ['wmGhost'] });
    const many = Array.from({ length: 101 }, (_, i) => `u${i}`);
    expect((await wecom.post('kf/customer/batchget', { external_userid_list: many }, token)).errcode).toBe(40058);
  });
});

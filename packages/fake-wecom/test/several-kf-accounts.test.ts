import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WecomCrypto, parseCallbackEnvelope, parseKfCallbackEvent } from '@wecom-relay/shared';
import { startFakeWecom, type FakeWecom } from '../src/index.js';
import { startRelayStub, type RelayStub } from './support/relay-stub.js';
import { WecomCaller, type Answer } from './support/wecom-caller.js';

const KF_A = 'wkFAKEKFaaaaaaaaaaaaaaaaaaaaaa';
const KF_B = 'wkFAKEKFbbbbbbbbbbbbbbbbbbbbbb';

let fake: FakeWecom;
let wecom: WecomCaller;
let relay: RelayStub;

beforeAll(async () => {
  relay = await startRelayStub();
  fake = await startFakeWecom({ openKfid: KF_A, moreOpenKfids: [KF_B], callbackUrls: [relay.url] });
  wecom = new WecomCaller(fake);
});
afterAll(async () => {
  await fake.close();
  await relay.close();
});
afterEach(() => {
  fake.reset();
  relay.received.length = 0;
});

const contents = (answer: Answer) => (answer['msg_list'] as { text?: { content: string } }[]).map((m) => m.text?.content);
const sync = (openKfid: string, fields: Record<string, unknown> = {}) => wecom.post('kf/sync_msg', { open_kfid: openKfid, ...fields });
const sendText = (openKfid: string, touser: string, content: string) =>
  wecom.post('kf/send_msg', { touser, open_kfid: openKfid, msgtype: 'text', text: { content } });

describe('a fake serving several kf accounts', () => {
  it('keeps one message stream per account: sync_msg of one never returns the other', async () => {
    await fake.customerMessage({ external_userid: 'wmAnn', msgtype: 'text', content: 'to A', deliver: false });
    await fake.customerMessage({ external_userid: 'wmAnn', msgtype: 'text', content: 'to B', open_kfid: KF_B, deliver: false });
    await fake.customerMessage({ external_userid: 'wmBen', msgtype: 'text', content: 'to B again', open_kfid: KF_B, deliver: false });

    const a = await sync(KF_A);
    const b = await sync(KF_B);
    expect(contents(a)).toEqual(['to A']);
    expect(contents(b)).toEqual(['to B', 'to B again']);
    expect((b['msg_list'] as { open_kfid: string }[]).every((m) => m.open_kfid === KF_B)).toBe(true);
    // Each account's cursor moves on its own stream.
    await fake.customerMessage({ external_userid: 'wmAnn', msgtype: 'text', content: 'A later', deliver: false });
    expect(contents(await sync(KF_A, { cursor: a['next_cursor'] }))).toEqual(['A later']);
    expect(contents(await sync(KF_B, { cursor: b['next_cursor'] }))).toEqual([]);
    // A cursor belongs to its account: another account's sync_msg refuses it.
    expect((await sync(KF_B, { cursor: a['next_cursor'] })).errcode).toBe(40058);
  });

  it('refuses an account it does not serve (95000), in sync_msg and send_msg', async () => {
    expect((await sync('wkNOTSERVED')).errcode).toBe(95000);
    expect((await sendText('wkNOTSERVED', 'wmAnn', 'x')).errcode).toBe(95000);
    await expect(fake.customerMessage({ external_userid: 'wmAnn', msgtype: 'text', open_kfid: 'wkNOTSERVED' })).rejects.toThrow(/not served/);
  });

  it('announces a message with its own account in OpenKfId and a Token valid for that account only', async () => {
    await fake.customerMessage({ external_userid: 'wmCid', msgtype: 'text', content: 'hello B', open_kfid: KF_B });
    const received = relay.received[0]!;
    const crypto = new WecomCrypto({ token: fake.options.callbackToken, encodingAesKey: fake.options.encodingAesKey, receiveId: fake.options.corpId });
    const xml = crypto.openCallback(
      { msgSignature: received.query.get('msg_signature')!, timestamp: received.query.get('timestamp')!, nonce: received.query.get('nonce')! },
      parseCallbackEnvelope(received.body).encrypt,
    );
    const event = parseKfCallbackEvent(xml);
    expect(event.openKfid).toBe(KF_B);
    expect((await sync(KF_B, { token: event.token })).errcode).toBe(0);
    expect((await sync(KF_A, { token: event.token })).errcode).toBe(95007);
  });

  it('sends from an account only to a customer who wrote to that account (the window is per account)', async () => {
    await fake.customerMessage({ external_userid: 'wmDan', msgtype: 'text', content: 'only B', open_kfid: KF_B, deliver: false });
    expect((await sendText(KF_A, 'wmDan', 'from A')).errcode).toBe(95002);
    expect((await sendText(KF_B, 'wmDan', 'from B')).errcode).toBe(0);
    expect(fake.sent({ touser: 'wmDan' }).map((m) => [m.open_kfid, m.content])).toEqual([[KF_B, 'from B']]);
    expect(fake.sessions()).toEqual([expect.objectContaining({ external_userid: 'wmDan', open_kfid: KF_B })]);
  });

  it("opens a session with the account whose contact-way link was scanned", async () => {
    const way = await wecom.post('kf/add_contact_way', { open_kfid: KF_B, scene: 'relay_bind' });
    expect(way.errcode).toBe(0);
    const scan = await fake.scan({ external_userid: 'wmEve', url: `${way['url'] as string}&scene_param=tok`, deliver: false });
    expect(scan.message['event']).toMatchObject({ event_type: 'enter_session', open_kfid: KF_B, scene_param: 'tok' });
    expect(contents(await sync(KF_A))).toEqual([]);
    expect((await sync(KF_B))['msg_list']).toHaveLength(1);
    expect((await sendText(KF_B, 'wmEve', 'welcome')).errcode).toBe(0);
    expect((await sendText(KF_A, 'wmEve', 'welcome')).errcode).toBe(95002);
  });
});

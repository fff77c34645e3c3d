import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isBindingResolvedFor } from './support/binding-steps.js';
import { eventually } from './support/eventually.js';
import { newUserId, useRelayStack } from './support/relay-stack.js';
import { sample, scrape } from './support/metric-sample.js';

/** A second kf account the fake and the relay both serve, beside the test corp's own (the first). */
const KF_B = `wkB${randomBytes(6).toString('hex')}`;
// No poll: every pull here is one a callback asked for, so a callback that pulled the wrong account shows.
const stack = useRelayStack({ relayEnv: { LOCALE: 'en', SYNC_POLL_INTERVAL_MS: '3600000' }, moreOpenKfids: [KF_B] });
const CONFIRMATION = /connected/i;

describe('one node serving two kf accounts', () => {
  it('binds a customer through the account whose link was made, and answers them from it', async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();

    const offer = await gw.createBinding({ openKfid: KF_B });
    const firstOffer = await gw.createBinding();
    // Different accounts, different links (each names its own kf account).
    expect(new URL(offer.customerServiceUrl).pathname).not.toBe(new URL(firstOffer.customerServiceUrl).pathname);
    const scan = await s.fake.control.scan({ external_userid: user, url: offer.customerServiceUrl });
    expect(scan.message['event']).toMatchObject({ open_kfid: KF_B });
    await gw.waitFor(isBindingResolvedFor(user));
    await eventually(async () => {
      const toUser = await s.fake.control.sent({ touser: user });
      expect(toUser.filter((m) => CONFIRMATION.test(m.content ?? '')).map((m) => m.open_kfid)).toEqual([KF_B]);
    });

    const said = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'hello from B', open_kfid: KF_B });
    const inbound = await gw.waitForInbound((m) => m.id === said.msgid);
    expect(inbound.raw).toMatchObject({ open_kfid: KF_B, content: 'hello from B' });

    // A deployed gateway's reply names no account: it goes out from the account the customer is bound through.
    // (The fake refuses the first account with 95002: this customer never wrote to it.)
    const ack = await gw.reply(user, 'answer from B');
    expect(ack).toMatchObject({ type: 'ack' });
    const sent = (await s.fake.control.sent({ touser: user })).filter((m) => m.content === 'answer from B');
    expect(sent.map((m) => m.open_kfid)).toEqual([KF_B]);
  });

  it("counts each account's send window apart: writing to the first account opens nothing for replies from B", async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();
    const offer = await gw.createBinding({ openKfid: KF_B });
    await s.fake.control.scan({ external_userid: user, url: offer.customerServiceUrl });
    await gw.waitFor(isBindingResolvedFor(user));
    const toB = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'to B', open_kfid: KF_B });
    await gw.waitForInbound((m) => m.id === toB.msgid);
    for (let i = 1; i <= 5; i++) await gw.reply(user, `from B ${i}`, `b-${i}`);
    // The customer now writes to the first account: WeCom's window with B stays used up, and so does the relay's.
    const toA = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'to A' });
    await gw.waitForInbound((m) => m.id === toA.msgid);
    const err = (await gw.reply(user, 'from B 6', 'b-6').catch((e: unknown) => e)) as { frame?: Record<string, unknown> };
    // Refused by the relay itself (WeCom not asked, so no WeCom errcode).
    expect(err.frame).toMatchObject({ type: 'error', id: 'b-6', code: 'SEND_WINDOW_CLOSED' });
    expect(err.frame?.['wecom_errcode']).toBeUndefined();
    const fromB = (await s.fake.control.sent({ touser: user })).filter((m) => m.content?.startsWith('from B'));
    expect(fromB.map((m) => [m.open_kfid, m.content])).toEqual([1, 2, 3, 4, 5].map((i) => [KF_B, `from B ${i}`]));
  });

  it('binds through the first account when create_binding names none, and answers from it', async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();
    const offer = await gw.createBinding();
    await s.fake.control.scan({ external_userid: user, url: offer.customerServiceUrl });
    await gw.waitFor(isBindingResolvedFor(user));
    const said = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'hello from A' });
    const inbound = await gw.waitForInbound((m) => m.id === said.msgid);
    expect(inbound.raw).toMatchObject({ open_kfid: s.corp.openKfid });
    await gw.reply(user, 'answer from A');
    const sent = (await s.fake.control.sent({ touser: user })).filter((m) => m.content === 'answer from A');
    expect(sent.map((m) => m.open_kfid)).toEqual([s.corp.openKfid]);
  });

  it('pulls each account on its own: both streams reach their gateways, each account has its own sync metrics', async () => {
    const s = stack();
    const gwA = await s.gateway();
    const gwB = await s.gateway();
    const userA = newUserId();
    const userB = newUserId();
    const offerA = await gwA.createBinding();
    const offerB = await gwB.createBinding({ openKfid: KF_B });
    await s.fake.control.scan({ external_userid: userA, url: offerA.customerServiceUrl });
    await s.fake.control.scan({ external_userid: userB, url: offerB.customerServiceUrl });
    await gwA.waitFor(isBindingResolvedFor(userA));
    await gwB.waitFor(isBindingResolvedFor(userB));
    const sentA: string[] = [];
    const sentB: string[] = [];
    for (let i = 0; i < 5; i++) {
      sentA.push((await s.fake.control.customerMessage({ external_userid: userA, msgtype: 'text', content: `a${i}` })).msgid);
      sentB.push((await s.fake.control.customerMessage({ external_userid: userB, msgtype: 'text', content: `b${i}`, open_kfid: KF_B })).msgid);
    }
    for (const id of sentA) await gwA.waitForInbound((m) => m.id === id);
    for (const id of sentB) await gwB.waitForInbound((m) => m.id === id);
    const text = await scrape(s.relay.metricsUrl);
    expect(sample(text, 'relay_sync_messages_total', { open_kfid: s.corp.openKfid })).toBeGreaterThanOrEqual(6);
    expect(sample(text, 'relay_sync_messages_total', { open_kfid: KF_B })).toBeGreaterThanOrEqual(6);
    expect(sample(text, 'relay_sync_lease_held', { open_kfid: KF_B })).toBeDefined();
  });

  it('pulls every account for a callback that names none (WeCom\'s older callbacks carried no OpenKfId)', async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();
    const offer = await gw.createBinding({ openKfid: KF_B });
    await s.fake.control.scan({ external_userid: user, url: offer.customerServiceUrl });
    await gw.waitFor(isBindingResolvedFor(user));
    const quiet = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'no account named', open_kfid: KF_B, deliver: false });
    const now = Math.floor(Date.now() / 1000);
    const plaintext =
      `<xml><ToUserName><![CDATA[${s.corp.corpId}]]></ToUserName><CreateTime>${now}</CreateTime>` +
      '<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event><Token><![CDATA[ENCnone]]></Token></xml>';
    expect((await s.fake.control.callbackRaw({ url: s.relay.webhookUrl, plaintext })).status).toBe(200);
    await gw.waitForInbound((m) => m.id === quiet.msgid);
  });

  it('refuses create_binding for a kf account the relay does not serve', async () => {
    const s = stack();
    const gw = await s.gateway();
    const err = await gw.createBinding({ openKfid: 'wkNotServedHere' }).catch((e: unknown) => e);
    expect(JSON.stringify(err)).toContain('KF_ACCOUNT_UNKNOWN');
  });
});

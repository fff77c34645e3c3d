import type { KfMessage } from '@wecom-relay/shared';
import { describe, expect, it } from 'vitest';
import { bindingFixture } from '../binding/binding-fixture.js';

/** WeCom send_time of the test's first message, unix seconds (recent by the fixture's clock). */
const T0 = 1_700_000_000 - 60;

function text(msgid: string, user: string, content: string, sendTime: number): KfMessage {
  return { msgid, external_userid: user, open_kfid: 'wk-test', send_time: sendTime, origin: 3, msgtype: 'text', text: { content } };
}

function scan(msgid: string, user: string, token: string, sendTime: number): KfMessage {
  return {
    msgid,
    send_time: sendTime,
    origin: 4,
    msgtype: 'event',
    event: { event_type: 'enter_session', open_kfid: 'wk-test', external_userid: user, scene_param: token },
  };
}

/** Ids of the inbound messages queued for a gateway. */
async function inboundIds(f: ReturnType<typeof bindingFixture>, gatewayId: string): Promise<string[]> {
  return (await f.queued(gatewayId)).flatMap((e) => (e.type === 'inbound' ? [e.id] : []));
}

const ctx = { firstPull: false, openKfid: 'wk-test' };

describe('routing decided once per msgid', () => {
  it('a page pulled again after a rebind in that page sends each message where it went the first time', async () => {
    const f = bindingFixture();
    const g1 = await f.binding.createBinding('gw-1');
    const g2 = await f.binding.createBinding('gw-2');
    await f.dispatcher.dispatch(scan('scan-1', 'wm-a', g1.token, T0), ctx);
    const page = [
      text('m-1', 'wm-a', 'sent while bound to gw-1', T0 + 1),
      scan('scan-2', 'wm-a', g2.token, T0 + 2),
      text('m-2', 'wm-a', 'sent while bound to gw-2', T0 + 3),
    ];
    for (const m of page) await f.dispatcher.dispatch(m, ctx);
    // The page comes round again (the cursor did not move: another user's message in it failed).
    for (const m of page) await f.dispatcher.dispatch(m, ctx);

    expect(await inboundIds(f, 'gw-1')).toEqual(['m-1']);
    expect(await inboundIds(f, 'gw-2')).toEqual(['m-2']);
    expect(await f.bindings.gatewayFor('wm-a')).toBe('gw-2');
  });

  it('a message first dropped as unbound stays dropped when pulled again after the user bound', async () => {
    const f = bindingFixture();
    const { token } = await f.binding.createBinding('gw-1');
    const page = [text('m-early', 'wm-a', 'hello?', T0), scan('scan-1', 'wm-a', token, T0 + 1)];
    for (const m of page) await f.dispatcher.dispatch(m, ctx);
    for (const m of page) await f.dispatcher.dispatch(m, ctx);
    expect(await inboundIds(f, 'gw-1')).toEqual([]);
    expect(await f.count('messagesIn', { outcome: 'unbound' })).toBe(2);
  });

  it('a stale puller replaying a page cannot move a user back to the gateway an older scan named', async () => {
    const f = bindingFixture();
    const g1 = await f.binding.createBinding('gw-1');
    const g2 = await f.binding.createBinding('gw-2');
    const page = [scan('scan-1', 'wm-a', g1.token, T0), scan('scan-2', 'wm-a', g2.token, T0 + 5)];
    // The puller holding the lease now handles the page.
    for (const m of page) await f.dispatcher.dispatch(m, ctx);
    // The one whose lease ran out mid-page handles its first message only now.
    await f.dispatcher.dispatch(page[0]!, ctx);
    expect(await f.bindings.gatewayFor('wm-a')).toBe('gw-2');
    const later = text('m-later', 'wm-a', 'who has me?', T0 + 10);
    await f.dispatcher.dispatch(later, ctx);
    expect(await inboundIds(f, 'gw-2')).toEqual(['m-later']);
    expect(await inboundIds(f, 'gw-1')).toEqual([]);
  });

  it('two customers typing the same token: the first is bound, the second\'s text is an ordinary message', async () => {
    const f = bindingFixture();
    const mine = await f.binding.createBinding('gw-1');
    const theirs = await f.binding.createBinding('gw-2');
    await f.dispatcher.dispatch(scan('scan-b', 'wm-b', theirs.token, T0), ctx);
    await f.dispatcher.dispatch(text('m-a', 'wm-a', mine.token, T0 + 1), ctx);
    await f.dispatcher.dispatch(text('m-b', 'wm-b', mine.token, T0 + 2), ctx);
    // Pulled again: the same outcomes.
    await f.dispatcher.dispatch(text('m-a', 'wm-a', mine.token, T0 + 1), ctx);
    await f.dispatcher.dispatch(text('m-b', 'wm-b', mine.token, T0 + 2), ctx);

    expect(await f.bindings.gatewayFor('wm-a')).toBe('gw-1');
    expect(await f.bindings.gatewayFor('wm-b')).toBe('gw-2');
    expect(await inboundIds(f, 'gw-2')).toEqual(['m-b']);
    expect(await inboundIds(f, 'gw-1')).toEqual([]);
    expect((await f.queued('gw-1')).filter((e) => e.type === 'binding_resolved')).toHaveLength(1);
  });

  it('text routed as an ordinary message stays one when pulled again, even if it now names a live token', async () => {
    const draws = ['abcdef12'];
    const f = bindingFixture({ randomToken: () => draws.shift() ?? '99999999' });
    await f.bindings.bind('wm-a', 'gw-1');
    await f.dispatcher.dispatch(text('m-1', 'wm-a', 'abcdef12', T0), ctx);
    await f.binding.createBinding('gw-2');
    await f.dispatcher.dispatch(text('m-1', 'wm-a', 'abcdef12', T0), ctx);
    expect(await f.bindings.gatewayFor('wm-a')).toBe('gw-1');
    expect(await inboundIds(f, 'gw-1')).toEqual(['m-1']);
  });
});

describe('send window per kf account', () => {
  it('a customer message restarts the window with the account it names, or the pulled one when it names none', async () => {
    const f = bindingFixture();
    await f.dispatcher.dispatch({ ...text('m-b', 'wm-a', 'to b', T0), open_kfid: 'wk-b' }, ctx);
    await f.dispatcher.dispatch({ ...text('m-c', 'wm-c', 'unnamed', T0 + 1), open_kfid: undefined }, { firstPull: false, openKfid: 'wk-pulled' });
    expect((await f.ledger.window('wk-b', 'wm-a')).lastCustomerAt).toBe(T0 * 1000);
    expect((await f.ledger.window('wk-test', 'wm-a')).lastCustomerAt).toBeNull();
    expect((await f.ledger.window('wk-pulled', 'wm-c')).lastCustomerAt).toBe((T0 + 1) * 1000);
  });
});

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { kfMessageSchema, syncMsgResponseSchema } from '@wecom-relay/shared';
import { startFakeWecom, type FakeWecom } from '../src/index.js';
import { WecomCaller, type Answer } from './support/wecom-caller.js';

let fake: FakeWecom;
let wecom: WecomCaller;

beforeAll(async () => {
  fake = await startFakeWecom({});
  wecom = new WecomCaller(fake);
});
afterAll(() => fake.close());
afterEach(() => fake.reset());

type Item = { msgid: string; origin: number; msgtype: string } & Record<string, unknown>;
const items = (a: Answer) => a['msg_list'] as Item[];

async function say(user: string, content: string): Promise<string> {
  return (await fake.customerMessage({ external_userid: user, msgtype: 'text', content, deliver: false })).msgid;
}

describe('kf/sync_msg', () => {
  it('records when a message was first carried by a sync answer (benchmarks measure latency from there)', async () => {
    const first = await say('wmServed', 'one');
    const second = await say('wmServed', 'two');
    expect(fake.served()).toEqual({});
    const before = Date.now();
    const page = await wecom.sync({ limit: 1 });
    const servedAt = fake.served();
    expect(Object.keys(servedAt)).toEqual([first]);
    expect(servedAt[first]).toBeGreaterThanOrEqual(before);
    await wecom.sync({ cursor: page['next_cursor'] as string });
    await wecom.sync({});
    expect(Object.keys(fake.served()).sort()).toEqual([first, second].sort());
    expect(fake.served()[first]).toBe(servedAt[first]);
  });

  it('pages with limit, has_more and next_cursor, in order, without repeats or gaps', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await say('wmPager', `m${i}`));

    const seen: string[] = [];
    let cursor: string | undefined;
    const hasMore: number[] = [];
    for (;;) {
      const page = await wecom.sync({ limit: 2, ...(cursor ? { cursor } : {}) });
      expect(page.errcode).toBe(0);
      expect(syncMsgResponseSchema.safeParse(page).success).toBe(true);
      seen.push(...items(page).map((m) => m.msgid));
      hasMore.push(page['has_more'] as number);
      cursor = page['next_cursor'] as string;
      if (page['has_more'] === 0) break;
    }
    expect(seen).toEqual(ids);
    expect(hasMore).toEqual([1, 1, 0]);

    // The last cursor is a resume point: nothing now, the next message later.
    expect(items(await wecom.sync({ cursor }))).toEqual([]);
    const later = await say('wmPager', 'later');
    expect(items(await wecom.sync({ cursor })).map((m) => m.msgid)).toEqual([later]);
  });

  it('refuses a cursor it did not issue, a wrong open_kfid and a limit over 1000', async () => {
    await say('wmX', 'x');
    const page = await wecom.sync();
    const cursor = page['next_cursor'] as string;
    const tampered = `${cursor.slice(0, -1)}${cursor.endsWith('A') ? 'B' : 'A'}`;

    expect((await wecom.sync({ cursor: tampered })).errcode).toBe(40058);
    expect((await wecom.sync({ cursor: 'not-a-cursor' })).errcode).toBe(40058);
    expect((await wecom.post('kf/sync_msg', { open_kfid: 'wkSOMEONEELSE' })).errcode).toBe(95000);
    expect((await wecom.post('kf/sync_msg', {})).errcode).toBe(95000);
    expect((await wecom.sync({ limit: 1001 })).errcode).toBe(40058);
  });

  it('returns only the last 3 days', async () => {
    await say('wmOld', 'ancient');
    fake.advanceClock(3 * 24 * 3600 * 1000 + 60_000);
    const recent = await say('wmOld', 'recent');
    expect(items(await wecom.sync()).map((m) => m.msgid)).toEqual([recent]);
  });

  it('carries customer (3), event (4) and servicer (5) messages in the shapes the relay parses', async () => {
    await fake.customerMessage({ external_userid: 'wmMix', msgtype: 'image', deliver: false });
    await fake.customerMessage({ external_userid: 'wmMix', msgtype: 'voice', deliver: false });
    await fake.customerMessage({ external_userid: 'wmMix', msgtype: 'location', latitude: 23.1, longitude: 113.3, name: 'Canton', deliver: false });
    await fake.customerMessage({ external_userid: 'wmMix', msgtype: 'channels_shop_product', product_id: 'p1', deliver: false });
    await fake.event({ event_type: 'msg_send_fail', external_userid: 'wmMix', fail_msgid: 'abc', fail_type: 6, deliver: false });
    await fake.servicerMessage({ external_userid: 'wmMix', servicer_userid: 'zhangsan', content: 'human here', deliver: false });

    const list = items(await wecom.sync());
    for (const item of list) expect(kfMessageSchema.safeParse(item).success).toBe(true);
    expect(list.map((m) => [m.origin, m.msgtype])).toEqual([
      [3, 'image'],
      [3, 'voice'],
      [3, 'location'],
      [3, 'channels_shop_product'],
      [4, 'event'],
      [5, 'text'],
    ]);
    expect(list[2]?.['location']).toEqual({ latitude: 23.1, longitude: 113.3, name: 'Canton' });
    expect(list[3]?.['channels_shop_product']).toEqual({ product_id: 'p1' });
    expect(list[4]).not.toHaveProperty('external_userid');
    expect(list[4]?.['event']).toEqual({
      event_type: 'msg_send_fail',
      open_kfid: fake.options.openKfid,
      external_userid: 'wmMix',
      fail_msgid: 'abc',
      fail_type: 6,
    });
    expect(list[5]).toMatchObject({ servicer_userid: 'zhangsan', text: { content: 'human here' } });

    // Customer media is downloadable: a real PNG and AMR bytes.
    const token = await wecom.token();
    const png = await fetch(`${fake.url}/cgi-bin/media/get?access_token=${token}&media_id=${(list[0]?.['image'] as { media_id: string }).media_id}`);
    expect(png.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await png.arrayBuffer()).subarray(1, 4).toString('latin1')).toBe('PNG');
    const amr = await fetch(`${fake.url}/cgi-bin/media/get?access_token=${token}&media_id=${(list[1]?.['voice'] as { media_id: string }).media_id}`);
    expect(Buffer.from(await amr.arrayBuffer()).subarray(0, 5).toString('latin1')).toBe('#!AMR');
  });

  it('does not return messages the relay sent', async () => {
    await say('wmEcho', 'question');
    const first = await wecom.sync();
    expect((await wecom.sendText('wmEcho', 'answer')).errcode).toBe(0);
    expect(items(await wecom.sync({ cursor: first['next_cursor'] }))).toEqual([]);
  });

  it('keeps cursors meaningful across reset: later messages still come after them', async () => {
    await say('wmReset', 'before');
    const cursor = (await wecom.sync())['next_cursor'] as string;
    fake.reset();
    const after = await say('wmReset', 'after');
    expect(items(await wecom.sync({ cursor })).map((m) => m.msgid)).toEqual([after]);
  });
});

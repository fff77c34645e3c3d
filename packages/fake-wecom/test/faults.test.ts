import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeWecom, type FakeWecom } from '../src/index.js';
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

describe('faults and limits', () => {
  it('answers a queued errcode for the given number of calls, on that API only', async () => {
    fake.faults({ path: 'kf/sync_msg', errcode: 42001, times: 2 }, { path: '/cgi-bin/kf/sync_msg', errcode: -1 });
    expect((await wecom.sendText('wmNobody', 'x', {}, token)).errcode).toBe(95002);
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await wecom.sync({}, token)).errcode);
    expect(codes).toEqual([42001, 42001, -1, 0]);
    expect(fake.faultsPending()).toEqual([]);
    expect(fake.stats().errors).toMatchObject({ '42001': 2, '-1': 1 });
  });

  it('answers a queued errcode with a given errmsg, as WeCom names the caller’s IP in it', async () => {
    fake.faults({ path: 'kf/sync_msg', errcode: 48002, errmsg: 'api forbidden, from ip: 203.0.113.9' });
    expect(await wecom.sync({}, token)).toMatchObject({ errcode: 48002, errmsg: 'api forbidden, from ip: 203.0.113.9' });
    expect(() => fake.faults({ path: 'kf/sync_msg', errmsg: 'no errcode' })).toThrow(/errmsg/);
  });

  it('answers an HTTP status with a non-JSON body', async () => {
    fake.faults({ path: 'kf/sync_msg', httpStatus: 502 });
    const res = await fetch(`${fake.url}/cgi-bin/kf/sync_msg?access_token=${token}`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(502);
    expect(await res.text()).toContain('502');
  });

  it('drops the connection before handling, or after handling so the side effect stays', async () => {
    await fake.customerMessage({ external_userid: 'wmDrop', msgtype: 'text', content: 'hi', deliver: false });
    fake.faults({ path: 'kf/send_msg', dropConnection: true });
    await expect(wecom.sendText('wmDrop', 'lost before', { msgid: 'drop-before' }, token)).rejects.toThrow();
    expect(fake.sent({ touser: 'wmDrop' })).toEqual([]);

    fake.faults({ path: 'kf/send_msg', dropConnection: true, after: true });
    await expect(wecom.sendText('wmDrop', 'lost after', { msgid: 'drop-after' }, token)).rejects.toThrow();
    expect(fake.sent({ touser: 'wmDrop' }).map((m) => m.msgid)).toEqual(['drop-after']);
    // The retry with the same client msgid is refused rather than sent twice.
    expect((await wecom.sendText('wmDrop', 'lost after', { msgid: 'drop-after' }, token)).errcode).toBe(95019);
  });

  it('delays an answer, then handles the call normally', async () => {
    fake.faults({ path: 'kf/sync_msg', delayMs: 150 });
    const answer = wecom.sync({}, token);
    const raced = await Promise.race([answer.then(() => 'answered'), new Promise((r) => setTimeout(() => r('still waiting'), 50))]);
    expect(raced).toBe('still waiting');
    expect((await answer).errcode).toBe(0);
  });

  it('refuses a fault that would do nothing sensible', () => {
    expect(() => fake.faults({ path: '' })).toThrow(/path/);
    expect(() => fake.faults({ path: 'kf/sync_msg', times: 0 })).toThrow(/times/);
    expect(() => fake.faults({ path: 'kf/sync_msg', errcode: 'busy' as unknown as number })).toThrow(/errcode/);
    expect(() => fake.faults({ path: 'kf/sync_msg', httpStatus: 42 })).toThrow(/httpStatus/);
    expect(() => fake.faults({ path: 'kf/sync_msg', delayMs: -5 })).toThrow(/delayMs/);
    expect(fake.faultsPending()).toEqual([]);
  });

  it('answers 45009 past the per-API per-minute limit, and recovers the next minute', async () => {
    fake.setRateLimit(3);
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await wecom.sync({}, token)).errcode);
    expect(codes).toEqual([0, 0, 0, 45009]);
    fake.advanceClock(60_000);
    expect((await wecom.sync({}, token)).errcode).toBe(0);
  });

  it('answers 43002/43001 for the wrong method and 47001 for a body that is not JSON', async () => {
    const get = await fetch(`${fake.url}/cgi-bin/kf/sync_msg?access_token=${token}`);
    expect(((await get.json()) as { errcode: number }).errcode).toBe(43002);
    const post = await fetch(`${fake.url}/cgi-bin/media/get?access_token=${token}`, { method: 'POST' });
    expect(((await post.json()) as { errcode: number }).errcode).toBe(43001);
    const bad = await fetch(`${fake.url}/cgi-bin/kf/sync_msg?access_token=${token}`, { method: 'POST', body: '{"open_kfid":' });
    expect(((await bad.json()) as { errcode: number }).errcode).toBe(47001);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeWecom, type FakeWecom } from '../src/index.js';
import { WecomCaller } from './support/wecom-caller.js';

let fake: FakeWecom;
let wecom: WecomCaller;

beforeAll(async () => {
  // A frozen base clock: only advanceClock moves time, so remaining lifetimes are exact.
  const frozen = Date.now();
  fake = await startFakeWecom({ corpId: 'wwtokens', corpSecret: 's3cret', accessTokenTtlSeconds: 600, now: () => frozen });
  wecom = new WecomCaller(fake);
});
afterAll(() => fake.close());

describe('gettoken and access tokens', () => {
  it('checks corpid and secret with WeCom errcodes', async () => {
    expect((await wecom.get('gettoken', { corpid: 'wwother', corpsecret: 's3cret' })).errcode).toBe(40013);
    expect((await wecom.get('gettoken', { corpid: 'wwtokens', corpsecret: 'wrong' })).errcode).toBe(40001);
    expect((await wecom.get('gettoken', { corpsecret: 's3cret' })).errcode).toBe(41002);
    expect((await wecom.get('gettoken', { corpid: 'wwtokens' })).errcode).toBe(41004);
  });

  it('hands out the same token while it is valid, with its remaining lifetime', async () => {
    fake.reset();
    const first = await wecom.get('gettoken', { corpid: 'wwtokens', corpsecret: 's3cret' });
    expect(first).toMatchObject({ errcode: 0, expires_in: 600 });
    fake.advanceClock(100_000);
    const second = await wecom.get('gettoken', { corpid: 'wwtokens', corpsecret: 's3cret' });
    expect(second['access_token']).toBe(first['access_token']);
    expect(second['expires_in']).toBe(500);
    expect(fake.stats().tokens_issued).toBe(1);
  });

  it('answers 42001 after the TTL, 40014 for an unknown token, 41001 for none', async () => {
    const token = await wecom.token();
    expect((await wecom.sync({}, token)).errcode).toBe(0);
    fake.advanceClock(601_000);
    expect((await wecom.sync({}, token)).errcode).toBe(42001);
    const renewed = await wecom.token();
    expect(renewed).not.toBe(token);
    expect((await wecom.sync({}, renewed)).errcode).toBe(0);

    expect((await wecom.sync({}, 'made-up')).errcode).toBe(40014);
    const res = await fetch(`${fake.url}/cgi-bin/kf/sync_msg`, { method: 'POST', body: '{}' });
    expect(((await res.json()) as { errcode: number }).errcode).toBe(41001);
  });

  it('expireTokens makes every issued token answer 42001 and gettoken mint a new one', async () => {
    const token = await wecom.token();
    fake.expireTokens();
    expect((await wecom.sync({}, token)).errcode).toBe(42001);
    const renewed = await wecom.token();
    expect(renewed).not.toBe(token);
    expect((await wecom.sync({}, renewed)).errcode).toBe(0);
  });

  it('counts calls and errors per API', async () => {
    fake.reset();
    await wecom.sync({}, 'bogus');
    await wecom.get('gettoken', { corpid: 'wwtokens', corpsecret: 'wrong' });
    const stats = fake.stats();
    expect(stats.calls).toEqual({ 'kf/sync_msg': 1, gettoken: 1 });
    expect(stats.errors).toEqual({ '40014': 1, '40001': 1 });
  });
});

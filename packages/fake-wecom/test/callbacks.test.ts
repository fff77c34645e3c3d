import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WecomCrypto, parseCallbackEnvelope, parseKfCallbackEvent } from '@wecom-relay/shared';
import { startFakeWecom, type FakeWecom } from '../src/index.js';
import { startRelayStub, type ReceivedCallback, type RelayStub } from './support/relay-stub.js';
import { WecomCaller } from './support/wecom-caller.js';

const corp = {
  corpId: 'wwcallbacktest0001',
  callbackToken: 'cbToken123',
  encodingAesKey: 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR',
  openKfid: 'wkCALLBACKTEST01',
};

let fake: FakeWecom;
let relayA: RelayStub;
let relayB: RelayStub;
let wecom: WecomCaller;
const crypto = new WecomCrypto({ token: corp.callbackToken, encodingAesKey: corp.encodingAesKey, receiveId: corp.corpId });

/** What a relay does with a callback: verify, decrypt, parse the kf event. */
function open(cb: ReceivedCallback) {
  const envelope = parseCallbackEnvelope(cb.body);
  const xml = crypto.openCallback(
    { msgSignature: cb.query.get('msg_signature') ?? '', timestamp: cb.query.get('timestamp') ?? '', nonce: cb.query.get('nonce') ?? '' },
    envelope.encrypt,
  );
  return { envelope, event: parseKfCallbackEvent(xml) };
}

beforeAll(async () => {
  relayA = await startRelayStub();
  relayB = await startRelayStub();
  fake = await startFakeWecom({ ...corp, callbackUrls: [relayA.url, relayB.url] });
  wecom = new WecomCaller(fake);
});

afterAll(async () => {
  await fake.close();
  await relayA.close();
  await relayB.close();
});

afterEach(() => {
  fake.reset();
  relayA.received.length = 0;
  relayB.received.length = 0;
  relayA.answer(200);
});

describe('callbacks', () => {
  it('POSTs a signed, encrypted kf_msg_or_event to every relay URL for a customer message', async () => {
    const result = await fake.customerMessage({ external_userid: 'wmAlice', msgtype: 'text', content: 'hello 你好' });

    expect(result.callbacks).toEqual([
      { url: relayA.url, status: 200 },
      { url: relayB.url, status: 200 },
    ]);
    expect(relayA.received).toHaveLength(1);
    expect(relayB.received).toHaveLength(1);
    const { envelope, event } = open(relayA.received[0]!);
    expect(envelope.toUserName).toBe(corp.corpId);
    expect(event).toMatchObject({ toUserName: corp.corpId, msgType: 'event', event: 'kf_msg_or_event', openKfid: corp.openKfid });
    expect(event.token).toMatch(/^ENC/);
  });

  it('issues a callback Token that sync_msg accepts for 10 minutes and refuses after (95007)', async () => {
    await fake.customerMessage({ external_userid: 'wmBob', msgtype: 'text', content: 'pull me' });
    const { event } = open(relayA.received[0]!);

    const fresh = await wecom.sync({ token: event.token });
    expect(fresh.errcode).toBe(0);
    expect((fresh['msg_list'] as { text?: { content: string } }[]).map((m) => m.text?.content)).toEqual(['pull me']);

    fake.advanceClock(10 * 60 * 1000 + 1000);
    expect((await wecom.sync({ token: event.token })).errcode).toBe(95007);
    expect((await wecom.sync({ token: 'ENCnotissued' })).errcode).toBe(95007);
    // Without a token the pull still works.
    expect((await wecom.sync()).errcode).toBe(0);
  });

  it('sends no callback when deliver is false, and a later plain callback announces it', async () => {
    const quiet = await fake.customerMessage({ external_userid: 'wmCarol', msgtype: 'text', content: 'silent', deliver: false });
    expect(quiet.callbacks).toEqual([]);
    expect(relayA.received).toHaveLength(0);

    const results = await fake.callback({ urls: [relayA.url] });
    expect(results).toEqual([{ url: relayA.url, status: 200 }]);
    expect(open(relayA.received[0]!).event.event).toBe('kf_msg_or_event');
  });

  it('duplicates one callback concurrently, byte for byte, as WeCom retries do', async () => {
    const results = await fake.callback({ urls: [relayA.url], times: 3, concurrent: true });
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(relayA.received).toHaveLength(3);
    const [first, ...rest] = relayA.received;
    for (const copy of rest) {
      expect(copy.body).toBe(first!.body);
      expect(copy.query.toString()).toBe(first!.query.toString());
    }
  });

  it('reports what each relay answered, and no status for one that cannot be reached', async () => {
    relayA.answer(503);
    const results = await fake.callback({ urls: [relayA.url, 'http://127.0.0.1:1/webhook'] });
    expect(results[0]).toEqual({ url: relayA.url, status: 503 });
    expect(results[1]?.status).toBeNull();
    expect(results[1]?.error).toBeTruthy();
    expect(fake.stats().callbacks_failed).toBe(2);
  });

  it('sends hand-made callbacks for negative tests: a forged signature fails verification', async () => {
    const forged = await fake.callbackRaw({ url: relayA.url, msg_signature: '0'.repeat(40) });
    expect(forged.status).toBe(200);
    expect(() => open(relayA.received[0]!)).toThrow(/signature/);

    const garbage = await fake.callbackRaw({ url: relayA.url, body: '<xml><nothing/></xml>' });
    expect(garbage.status).toBe(200);
    expect(relayA.received[1]?.body).toBe('<xml><nothing/></xml>');
  });

  it('sends callbacks to URLs changed after start', async () => {
    const late = await startRelayStub();
    try {
      fake.setCallbackUrls([late.url]);
      await fake.customerMessage({ external_userid: 'wmDan', msgtype: 'text', content: 'to the new relay' });
      expect(late.received).toHaveLength(1);
      expect(relayA.received).toHaveLength(0);
    } finally {
      fake.setCallbackUrls([relayA.url, relayB.url]);
      await late.close();
    }
  });
});

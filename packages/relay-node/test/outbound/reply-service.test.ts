import { describe, expect, it } from 'vitest';
import { RelayError } from '../../src/errors/relay-error.js';
import { WecomApiError } from '../../src/wecom/wecom-api-error.js';
import { EGRESS_IP, replyKit, text, wecomRefusal } from './reply-service-kit.js';

const HOUR = 3600 * 1000;
const LONG_CHINESE = '这是一段很长的中文回复，用来测试分段发送。'.repeat(80); // 3 bytes a character: 5,040 bytes

async function refusal(p: Promise<unknown>): Promise<RelayError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RelayError);
  return err as RelayError;
}

describe('ReplyService: long replies', () => {
  it('sends a short reply as one message', async () => {
    const k = await replyKit();
    await k.ledger.customerSpoke('wk-test', 'wm-alice', k.clock.now());
    const outcome = await k.service.reply('gw-1', text('r-1', 'hello'));
    expect(k.wecom.sent.map((s) => s.content)).toEqual(['hello']);
    expect(outcome).toEqual({ msgids: [k.wecom.sent[0]!.msgid], partsTotal: 1 });
  });

  it('sends a reply over 2048 bytes in parts of at most 2048 bytes, in order, that join to the original', async () => {
    const k = await replyKit();
    await k.ledger.customerSpoke('wk-test', 'wm-alice', k.clock.now());
    const outcome = await k.service.reply('gw-1', text('r-long', LONG_CHINESE));
    const contents = k.wecom.sent.map((s) => s.content ?? '');
    expect(contents.length).toBe(3);
    for (const c of contents) expect(Buffer.byteLength(c, 'utf8')).toBeLessThanOrEqual(2048);
    expect(contents.join('')).toBe(LONG_CHINESE);
    expect(outcome.msgids).toEqual(k.wecom.sent.map((s) => s.msgid));
    expect(new Set(outcome.msgids).size).toBe(3);
    expect(outcome.unsent).toBeUndefined();
    expect(await k.count('replyParts')).toBe(3);
  });

  it('when the window closes mid-way, acks the parts sent and says where the unsent rest starts', async () => {
    const k = await replyKit();
    await k.ledger.customerSpoke('wk-test', 'wm-alice', k.clock.now());
    for (let i = 0; i < 4; i++) await k.service.reply('gw-1', text(`before-${i}`, `short ${i}`));
    const outcome = await k.service.reply('gw-1', text('r-long', LONG_CHINESE));
    expect(k.wecom.calls).toBe(5); // four short ones and one part: no call for the parts the window refuses
    const first = k.wecom.sent[4]!.content!;
    expect(outcome).toMatchObject({ msgids: [k.wecom.sent[4]!.msgid], partsTotal: 3 });
    expect(outcome.unsent).toMatchObject({ code: 'SEND_WINDOW_CLOSED', offset: Buffer.byteLength(first, 'utf8') });
    expect(outcome.unsent?.wecomErrcode).toBeUndefined();
    expect(Buffer.from(LONG_CHINESE, 'utf8').subarray(outcome.unsent!.offset).toString('utf8')).toBe(LONG_CHINESE.slice(first.length));
  });

  it('when WeCom refuses a later part, acks the parts sent with WeCom’s code and our words only', async () => {
    const k = await replyKit();
    await k.ledger.customerSpoke('wk-test', 'wm-alice', k.clock.now());
    const sendText = k.wecom.sendText.bind(k.wecom);
    let n = 0;
    k.wecom.sendText = async (req) => {
      if (++n === 2) throw wecomRefusal(40058);
      return sendText(req);
    };
    const outcome = await k.service.reply('gw-1', text('r-long', LONG_CHINESE));
    expect(outcome.msgids).toHaveLength(1);
    expect(outcome.unsent).toMatchObject({ code: 'WECOM_API_ERROR', wecomErrcode: 40058 });
    expect(JSON.stringify(outcome)).not.toContain(EGRESS_IP);
    expect(JSON.stringify(outcome)).not.toContain('hint');
  });

  it('when the store fails after a part went, acks what went (INTERNAL for the rest) and remembers it', async () => {
    const k = await replyKit();
    await k.ledger.customerSpoke('wk-test', 'wm-alice', k.clock.now());
    const reserve = k.ledger.reserveSend.bind(k.ledger);
    let n = 0;
    k.ledger.reserveSend = async (...args) => {
      if (++n === 2) throw new Error('redis went away');
      return reserve(...args);
    };
    const outcome = await k.service.reply('gw-1', text('r-long', LONG_CHINESE));
    expect(outcome).toMatchObject({ msgids: [k.wecom.sent[0]!.msgid], partsTotal: 3, unsent: { code: 'INTERNAL' } });
    expect(JSON.stringify(outcome)).not.toContain('redis');
    expect(await k.service.reply('gw-1', text('r-long', LONG_CHINESE))).toEqual(outcome);
    expect(k.wecom.calls).toBe(1);
  });
});

describe('ReplyService: the send window is checked before WeCom is called', () => {
  it('refuses a sixth reply to one customer message without calling WeCom', async () => {
    const k = await replyKit();
    await k.ledger.customerSpoke('wk-test', 'wm-alice', k.clock.now());
    for (let i = 1; i <= 5; i++) await k.service.reply('gw-1', text(`r-${i}`, `answer ${i}`));
    const err = await refusal(k.service.reply('gw-1', text('r-6', 'answer 6')));
    expect(err.code).toBe('SEND_WINDOW_CLOSED');
    expect(err.message).toContain('5 were sent since');
    expect(err.details['wecomErrcode']).toBeUndefined();
    expect(k.wecom.calls).toBe(5);
    expect(await k.count('repliesRefused', { reason: 'send_window_closed' })).toBe(1);
  });

  it('refuses after 48 h without calling WeCom, and sends again once the customer writes', async () => {
    const k = await replyKit();
    await k.ledger.customerSpoke('wk-test', 'wm-alice', k.clock.now());
    k.clock.advance(48 * HOUR + 1);
    const err = await refusal(k.service.reply('gw-1', text('r-late', 'late')));
    expect(err.code).toBe('SEND_WINDOW_CLOSED');
    expect(err.message).toContain('more than 48 h have passed');
    expect(k.wecom.calls).toBe(0);
    await k.ledger.customerSpoke('wk-test', 'wm-alice', k.clock.now());
    await k.service.reply('gw-1', text('r-late', 'late'));
    expect(k.wecom.calls).toBe(1);
  });

  it('concurrent replies to one customer cannot all pass the check: at most 5 reach WeCom', async () => {
    const k = await replyKit();
    await k.ledger.customerSpoke('wk-test', 'wm-alice', k.clock.now());
    k.wecom.hold();
    const settled = Promise.allSettled(Array.from({ length: 30 }, (_, i) => k.service.reply('gw-1', text(`c-${i}`, `answer ${i}`))));
    while (k.wecom.waiting < 5) await new Promise((resolve) => setImmediate(resolve));
    k.wecom.release();
    const results = await settled;
    expect(k.wecom.calls).toBe(5);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    const codes = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as RelayError).code] : []));
    expect(new Set(codes)).toEqual(new Set(['SEND_WINDOW_CLOSED']));
  });

  it('a WeCom 95001 closes the window in the ledger: the next reply makes no call', async () => {
    const k = await replyKit();
    await k.ledger.customerSpoke('wk-test', 'wm-alice', k.clock.now());
    k.wecom.failNext(wecomRefusal(95001));
    const err = await refusal(k.service.reply('gw-1', text('r-1', 'one')));
    expect(err).toMatchObject({ code: 'SEND_WINDOW_CLOSED', details: { wecomErrcode: 95001 } });
    expect(err.message).not.toContain(EGRESS_IP);
    await refusal(k.service.reply('gw-1', text('r-2', 'two')));
    expect(k.wecom.calls).toBe(1);
  });

  it('a refused send gives its slot back; a send with no answer keeps it counted', async () => {
    const k = await replyKit();
    await k.ledger.customerSpoke('wk-test', 'wm-alice', k.clock.now());
    k.wecom.failNext(wecomRefusal(40058));
    await refusal(k.service.reply('gw-1', text('r-1', 'one')));
    expect((await k.ledger.window('wk-test', 'wm-alice')).sentSince).toBe(0);
    k.wecom.failNext(new WecomApiError('WECOM_UNAVAILABLE', { api: 'kf/send_msg', errcode: null, message: 'connect ETIMEDOUT 198.51.100.1:443' }));
    const err = await refusal(k.service.reply('gw-1', text('r-2', 'two')));
    expect(err.code).toBe('WECOM_UNAVAILABLE');
    expect(err.message).not.toContain('198.51.100.1');
    expect((await k.ledger.window('wk-test', 'wm-alice')).sentSince).toBe(1);
  });
});

describe('ReplyService: a resent reply is sent once', () => {
  it('answers the same id and content with the first outcome and no WeCom call', async () => {
    const k = await replyKit();
    await k.ledger.customerSpoke('wk-test', 'wm-alice', k.clock.now());
    const first = await k.service.reply('gw-1', text('r-1', LONG_CHINESE));
    const again = await k.service.reply('gw-1', text('r-1', LONG_CHINESE));
    expect(again).toEqual(first);
    expect(k.wecom.calls).toBe(3);
    expect(await k.count('repliesRepeated')).toBe(1);
  });

  it('a reused id with other content, or to another customer, is a new reply', async () => {
    const k = await replyKit();
    await k.ledger.customerSpoke('wk-test', 'wm-alice', k.clock.now());
    await k.ledger.customerSpoke('wk-test', 'wm-bob', k.clock.now());
    await k.service.reply('gw-1', text('1', 'hello'));
    await k.service.reply('gw-1', text('1', 'something else'));
    await k.service.reply('gw-1', text('1', 'hello', 'wm-bob'));
    expect(k.wecom.sent.map((s) => [s.toUser, s.content])).toEqual([
      ['wm-alice', 'hello'],
      ['wm-alice', 'something else'],
      ['wm-bob', 'hello'],
    ]);
  });

  it('a reply WeCom refused is not remembered: resending it sends it', async () => {
    const k = await replyKit();
    await k.ledger.customerSpoke('wk-test', 'wm-alice', k.clock.now());
    k.wecom.failNext(wecomRefusal(40058));
    await refusal(k.service.reply('gw-1', text('r-1', 'hello')));
    await k.service.reply('gw-1', text('r-1', 'hello'));
    expect(k.wecom.sent.map((s) => s.content)).toEqual(['hello']);
    expect(k.wecom.calls).toBe(2);
  });

  it('a copy that arrives while the first is in flight waits for its outcome and sends nothing', async () => {
    const k = await replyKit();
    await k.ledger.customerSpoke('wk-test', 'wm-alice', k.clock.now());
    k.wecom.hold();
    const first = k.service.reply('gw-1', text('r-1', 'hello'));
    while (k.wecom.waiting === 0) await new Promise((resolve) => setImmediate(resolve));
    const second = k.service.reply('gw-1', text('r-1', 'hello'));
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    k.wecom.release();
    const [a, b] = await Promise.all([first, second]);
    expect(b).toEqual(a);
    expect(k.wecom.calls).toBe(1);
  });

  it('a copy that waits past the bound for one in flight is told REPLY_IN_PROGRESS, with its id', async () => {
    const k = await replyKit({ inFlightWaitMs: 2_000 });
    await k.ledger.customerSpoke('wk-test', 'wm-alice', k.clock.now());
    k.wecom.hold();
    const first = k.service.reply('gw-1', text('r-1', 'hello'));
    while (k.wecom.waiting === 0) await new Promise((resolve) => setImmediate(resolve));
    const err = await refusal(k.service.reply('gw-1', text('r-1', 'hello')));
    expect(err).toMatchObject({ code: 'REPLY_IN_PROGRESS', details: { id: 'r-1' } });
    expect(await k.count('repliesRefused', { reason: 'in_progress' })).toBe(1);
    k.wecom.release();
    await first;
    expect(k.wecom.calls).toBe(1);
  });

  it('a copy on another node while the first is in flight waits for it; neither sends twice', async () => {
    const k = await replyKit();
    const b = k.otherNode();
    await k.ledger.customerSpoke('wk-test', 'wm-alice', k.clock.now());
    k.wecom.hold();
    const first = k.service.reply('gw-1', text('r-1', LONG_CHINESE));
    while (k.wecom.waiting === 0) await new Promise((resolve) => setImmediate(resolve));
    const second = b.service.reply('gw-1', text('r-1', LONG_CHINESE));
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    k.wecom.release();
    const [x, y] = await Promise.all([first, second]);
    expect(y).toEqual(x);
    expect(k.wecom.calls).toBe(3);
    expect(b.wecom.calls).toBe(0);
  });

  it('a claim whose owner died frees the id after its ttl: a later copy is sent', async () => {
    const k = await replyKit();
    const b = k.otherNode({ inFlightWaitMs: 5 * 60_000 });
    await k.ledger.customerSpoke('wk-test', 'wm-alice', k.clock.now());
    k.wecom.hold(); // node A never finishes: it died mid-send
    void k.service.reply('gw-1', text('r-1', 'hello')).catch(() => undefined);
    while (k.wecom.waiting === 0) await new Promise((resolve) => setImmediate(resolve));
    const outcome = await b.service.reply('gw-1', text('r-1', 'hello'));
    expect(outcome.msgids).toEqual([b.wecom.sent[0]!.msgid]);
    expect(b.wecom.calls).toBe(1);
  });

  it('an image resent with the same id and bytes is sent once; other bytes are a new image', async () => {
    const k = await replyKit();
    await k.ledger.customerSpoke('wk-test', 'wm-alice', k.clock.now());
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex').toString('base64');
    const other = Buffer.from('89504e470d0a1a0a0000000d49484453', 'hex').toString('base64');
    const img = (data: string) => ({ type: 'image_reply' as const, id: 'i-1', externalUserId: 'wm-alice', imageData: data, imageMime: 'image/png' });
    const a = await k.service.imageReply('gw-1', img(png));
    expect(await k.service.imageReply('gw-1', img(png))).toBe(a);
    await k.service.imageReply('gw-1', img(other));
    expect(k.wecom.uploads).toBe(2);
    expect(k.wecom.calls).toBe(2);
  });
});

describe('ReplyService: per-gateway rate', () => {
  it('refuses replies over the burst with RATE_LIMITED and the id, without WeCom or the stores, and refills over time', async () => {
    const k = await replyKit({ rateLimit: { perSecond: 1, burst: 3 } });
    await k.ledger.customerSpoke('wk-test', 'wm-alice', k.clock.now());
    for (let i = 0; i < 3; i++) await k.service.reply('gw-1', text(`r-${i}`, `a${i}`));
    const err = await refusal(k.service.reply('gw-1', text('r-3', 'a3')));
    expect(err).toMatchObject({ code: 'RATE_LIMITED', details: { id: 'r-3' } });
    expect(k.wecom.calls).toBe(3);
    expect(await k.count('repliesRefused', { reason: 'rate_limited' })).toBe(1);
    // Another gateway has its own bucket.
    await k.bindings.bind('wm-carol', 'gw-2');
    await k.service.reply('gw-2', text('x', 'other gateway', 'wm-carol'));
    k.clock.advance(1_000);
    await k.service.reply('gw-1', text('r-3', 'a3'));
    expect(k.wecom.calls).toBe(5);
  });
});

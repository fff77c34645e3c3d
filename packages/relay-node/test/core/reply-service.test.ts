import { describe, expect, it } from 'vitest';
import { ReplyService, type ReplyWecom } from '../../src/outbound/reply-service.js';
import { Semaphore } from '../../src/util/semaphore.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { MemoryBindingStore, MemoryOutboundLedger, MemoryReplyRecordStore } from '../../src/state/memory/index.js';
import type { OutboundLedger } from '../../src/state/outbound-ledger.js';
import { WecomApiError } from '../../src/wecom/wecom-api-error.js';
import { silent } from './delivery-harness.js';

const KF = 'wk-test';
/** The services' clock: one hour after the customer below last wrote, inside WeCom's 48 h window. */
const SPOKE_AT = Date.UTC(2026, 0, 2, 3, 4, 5);
const NOW = SPOKE_AT + 3600_000;
const clock = () => NOW;

/** A WeCom refusal as the client raises it; its errmsg is WeCom's and must never reach a gateway. */
const refusal = (errcode: number, errmsg = 'refused, from ip: 203.0.113.7') =>
  new WecomApiError('WECOM_API_ERROR', { api: 'kf/send_msg', errcode, errmsg });

/** WeCom's send APIs: answer with a msgid, or throw what they are told to. */
class ScriptedWecom implements ReplyWecom {
  readonly sent: Array<{ kind: string; toUser: string; msgid?: string; content?: string; mediaId?: string; openKfid: string }> = [];
  failWith: unknown = null;
  async sendText(req: { openKfid: string; toUser: string; content: string; msgid?: string }) {
    if (this.failWith) throw this.failWith;
    this.sent.push({ kind: 'text', ...req });
    return { msgid: `w${this.sent.length}` };
  }
  async sendImage(req: { openKfid: string; toUser: string; mediaId: string; msgid?: string }) {
    if (this.failWith) throw this.failWith;
    this.sent.push({ kind: 'image', ...req });
    return { msgid: `w${this.sent.length}` };
  }
  readonly uploads: string[] = [];
  async upload(type: 'image', data: Buffer, filename: string) {
    this.uploads.push(`${type}:${filename}`);
    return `media-${data.length}`;
  }
}

async function setup(ledger: OutboundLedger = new MemoryOutboundLedger({ now: clock })) {
  const bindings = new MemoryBindingStore();
  await bindings.bind('u1', 'gw-1');
  const wecom = new ScriptedWecom();
  const metrics = createMetrics('reply-test');
  const replies = new ReplyService({
    bindings,
    ledger,
    records: new MemoryReplyRecordStore({ now: clock }),
    wecom,
    transfers: new Semaphore(1),
    openKfid: KF,
    nodeId: 'node-test',
    rateLimit: { perSecond: 1000, burst: 1000 },
    logger: silent,
    metrics,
    now: clock,
  });
  const outcomes = async () => Object.fromEntries((await metrics.messagesOut.get()).values.map((v) => [`${v.labels.msgtype}:${v.labels.outcome}`, v.value]));
  return { replies, wecom, ledger, outcomes };
}

const text = (content = 'hi', id = 'req-1') => ({ type: 'reply' as const, id, externalUserId: 'u1', content });
/** What a one-part reply resolves to. */
const sentAs = (msgid: string) => ({ msgids: [msgid], partsTotal: 1 });

describe('ReplyService', () => {
  it('sends to the kf account with a fresh msgid per reply, and remembers who sent it', async () => {
    const { replies, wecom, ledger, outcomes } = await setup();
    const first = await replies.reply('gw-1', text('one'));
    const second = await replies.reply('gw-1', text('two'));
    expect([first, second]).toEqual([sentAs('w1'), sentAs('w2')]);
    expect(wecom.sent.map((s) => [s.openKfid, s.toUser, s.content])).toEqual([
      [KF, 'u1', 'one'],
      [KF, 'u1', 'two'],
    ]);
    const [m1, m2] = wecom.sent.map((s) => s.msgid!);
    expect(m1).toMatch(/^r[A-Za-z0-9_-]{20}$/);
    expect(m1).not.toBe(m2);
    expect(await ledger.senderOf('w1')).toEqual({ gatewayId: 'gw-1', requestId: 'req-1', externalUserId: 'u1' });
    expect((await ledger.window(KF, 'u1')).sentSince).toBe(2);
    expect(await outcomes()).toEqual({ 'text:ok': 2 });
  });

  it('a ledger that cannot record does not fail a reply WeCom accepted', async () => {
    const broken = new MemoryOutboundLedger();
    broken.rememberSender = async () => {
      throw new Error('ledger down');
    };
    const { replies, wecom } = await setup(broken);
    await expect(replies.reply('gw-1', text())).resolves.toEqual(sentAs('w1'));
    expect(wecom.sent).toHaveLength(1);
  });

  it('a closed send window becomes SEND_WINDOW_CLOSED with the reason and what the relay saw', async () => {
    const { replies, wecom, ledger, outcomes } = await setup();
    for (const [errcode, why] of [
      [95001, /at most 5 messages/],
      [95002, /more than 48 h/],
      [95018, /session does not allow sending/],
    ] as const) {
      // The customer writes (another message of the same second) so the ledger holds the window open and WeCom is asked.
      await ledger.customerSpoke(KF, 'u1', SPOKE_AT, `cm-${errcode}`);
      wecom.failWith = refusal(errcode);
      const err = await replies.reply('gw-1', text()).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'SEND_WINDOW_CLOSED', details: { wecomErrcode: errcode } });
      expect((err as Error).message).toMatch(why);
      expect((err as Error).message).toContain('2026-01-02T03:04:05.000Z');
      expect((err as Error).message).not.toContain('203.0.113.7');
    }
    // After WeCom said the window is used up, the relay refuses by itself until the customer writes again.
    await ledger.customerSpoke(KF, 'u1', SPOKE_AT, 'cm-last');
    wecom.failWith = refusal(95001);
    await replies.reply('gw-1', text()).catch(() => undefined);
    wecom.failWith = null;
    const local = await replies.reply('gw-1', text('after')).catch((e: unknown) => e);
    expect(local).toMatchObject({ code: 'SEND_WINDOW_CLOSED', details: { id: 'req-1' } });
    expect((local as Error).message).toContain('2026-01-02T03:04:05.000Z');
    expect(wecom.sent).toEqual([]);
    expect(await outcomes()).toEqual({ 'text:95001': 2, 'text:95002': 1, 'text:95018': 1 });
  });

  it('other WeCom errors keep their code and errcode; an unavailable WeCom is counted as such; anything else is rethrown', async () => {
    const { replies, wecom, outcomes } = await setup();
    wecom.failWith = refusal(95016, 'invalid user, from ip: 203.0.113.7');
    const refused = await replies.reply('gw-1', text()).catch((e: unknown) => e);
    // Our words and WeCom's errcode; WeCom's errmsg stays in the logs.
    expect(refused).toMatchObject({ code: 'WECOM_API_ERROR', message: 'WeCom refused kf/send_msg (errcode 95016)', details: { wecomErrcode: 95016 } });
    wecom.failWith = new WecomApiError('WECOM_UNAVAILABLE', { api: 'kf/send_msg', errcode: null, message: 'connect ETIMEDOUT 198.51.100.1:443' });
    const unavailable = await replies.reply('gw-1', text()).catch((e: unknown) => e);
    expect(unavailable).toMatchObject({ code: 'WECOM_UNAVAILABLE', message: 'WeCom could not be reached (kf/send_msg); try again later' });
    expect((unavailable as { details: object }).details).toStrictEqual({});
    const bug = new TypeError('bug');
    wecom.failWith = bug;
    await expect(replies.reply('gw-1', text())).rejects.toBe(bug);
    expect(await outcomes()).toEqual({ 'text:95016': 1, 'text:unavailable': 2 });
  });

  it('images: mime is case-insensitive, base64url data is accepted, and the count is per msgtype', async () => {
    const { replies, wecom, outcomes } = await setup();
    const data = Buffer.from([0xfb, 0xff, 0xfe, 1, 2, 3, 4, 5]);
    await replies.imageReply('gw-1', { type: 'image_reply', id: 'i1', externalUserId: 'u1', imageData: data.toString('base64url'), imageMime: 'image/JPEG' });
    await replies.imageReply('gw-1', { type: 'image_reply', id: 'i2', externalUserId: 'u1', imageData: ` ${data.toString('base64')}\n`, imageMime: 'image/gif' });
    expect(wecom.sent.map((s) => s.mediaId)).toEqual(['media-8', 'media-8']);
    expect(await outcomes()).toEqual({ 'image:ok': 2 });
  });
});

describe('ReplyService: refusals carry the request id and say why', () => {
  const image = (imageData: string, imageMime = 'image/png') => ({ type: 'image_reply' as const, id: 'img-9', externalUserId: 'u1', imageData, imageMime });

  it('image refusals name the request, the allowed types and the sizes', async () => {
    const { replies, wecom } = await setup();
    const mime = await replies.imageReply('gw-1', image('AAAAAAAA', 'image/webp')).catch((e: unknown) => e);
    expect(mime).toMatchObject({ code: 'IMAGE_INVALID', details: { id: 'img-9' } });
    expect((mime as Error).message).toBe('image_mime must be one of image/png, image/jpeg, image/jpg, image/gif, image/bmp');
    await expect(replies.imageReply('gw-1', image(Buffer.alloc(5, 7).toString('base64')))).rejects.toMatchObject({ code: 'IMAGE_INVALID', details: { id: 'img-9' } });
    await replies.imageReply('gw-1', image(Buffer.alloc(6, 7).toString('base64')));
    await expect(replies.imageReply('gw-1', image('AAAAdata:x,BBBBBBBB'))).rejects.toMatchObject({ code: 'IMAGE_INVALID' });
    const big = await replies.imageReply('gw-1', image(Buffer.alloc(2 * 1024 * 1024 + 3).toString('base64'))).catch((e: unknown) => e);
    expect(big).toMatchObject({ code: 'IMAGE_TOO_LARGE', details: { id: 'img-9' }, message: 'image is 2097155 bytes; the limit is 2097152' });
    await expect(replies.imageReply('gw-2', image('AAAAAAAA'))).rejects.toMatchObject({ code: 'NOT_BOUND', details: { id: 'img-9' } });
    await expect(replies.reply('gw-2', text())).rejects.toMatchObject({ code: 'NOT_BOUND', details: { id: 'req-1' } });
    await replies.imageReply('gw-1', image('AAAAAAAA', 'image/jpg'));
    await replies.imageReply('gw-1', image('AAAAAAAA', 'image/bmp'));
    expect(wecom.uploads).toEqual(['image:reply.png', 'image:reply.jpg', 'image:reply.bmp']);
  });

  it('remembers the sender for 3 days, and explains a closed window even when the ledger cannot be read', async () => {
    const ledger = new MemoryOutboundLedger({ now: clock });
    const ttls: number[] = [];
    const remember = ledger.rememberSender.bind(ledger);
    ledger.rememberSender = async (msgid, sender, ttl) => {
      ttls.push(ttl);
      return remember(msgid, sender, ttl);
    };
    ledger.window = async () => {
      throw new Error('ledger down');
    };
    const { replies, wecom } = await setup(ledger);
    await replies.reply('gw-1', text('first'));
    expect(ttls).toEqual([3 * 24 * 3600 * 1000]);
    // The gateway-safe error keeps WeCom's own error as its cause, for the logs.
    const apiError = refusal(40001);
    wecom.failWith = apiError;
    expect(((await replies.reply('gw-1', text('second')).catch((e: unknown) => e)) as Error).cause).toBe(apiError);
    const cause = refusal(95001);
    wecom.failWith = cause;
    const err = await replies.reply('gw-1', text('third')).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SEND_WINDOW_CLOSED' });
    expect((err as Error).message).toContain('the relay has not seen this customer write');
    expect((err as Error).cause).toBe(cause);
  });
});

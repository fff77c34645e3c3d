import { describe, expect, it } from 'vitest';
import { ReplyService, type ReplyWecom } from '../../src/outbound/reply-service.js';
import { WECOM_WINDOW_RULE } from '../../src/outbound/send-window.js';
import { Semaphore } from '../../src/util/semaphore.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { MemoryBindingStore, MemoryOutboundLedger, MemoryReplyRecordStore } from '../../src/state/memory/index.js';
import { WecomApiError } from '../../src/wecom/wecom-api-error.js';
import { silent } from './delivery-harness.js';

const KF_A = 'wk-a';
const KF_B = 'wk-b';
const NOW = Date.UTC(2026, 0, 2, 3, 4, 5);
const clock = () => NOW;

/** WeCom's send APIs: record which account each message went out from, or refuse as told. */
class AccountWecom implements ReplyWecom {
  readonly sent: Array<{ openKfid: string; toUser: string }> = [];
  failWith: unknown = null;
  async sendText(req: { openKfid: string; toUser: string }) {
    if (this.failWith) throw this.failWith;
    this.sent.push({ openKfid: req.openKfid, toUser: req.toUser });
    return { msgid: `w${this.sent.length}` };
  }
  async sendImage(req: { openKfid: string; toUser: string }) {
    return this.sendText(req);
  }
  async upload() {
    return 'media-1';
  }
}

/** Two accounts; `wm-b` is bound through account B (the second one). */
async function setup() {
  const bindings = new MemoryBindingStore();
  await bindings.bindInOrder('wm-b', 'gw-1', { at: 1, eventId: 'ev-1', openKfid: KF_B });
  const ledger = new MemoryOutboundLedger({ now: clock });
  const wecom = new AccountWecom();
  const replies = new ReplyService({
    bindings,
    ledger,
    records: new MemoryReplyRecordStore({ now: clock }),
    wecom,
    transfers: new Semaphore(1),
    openKfid: KF_A,
    openKfids: [KF_A, KF_B],
    nodeId: 'node-test',
    rateLimit: { perSecond: 1000, burst: 1000 },
    logger: silent,
    metrics: createMetrics('reply-window-test'),
    now: clock,
  });
  return { replies, ledger, wecom };
}

const text = (id: string) => ({ type: 'reply' as const, id, externalUserId: 'wm-b', content: 'hello' });

describe('ReplyService: the send window of the account it sends from', () => {
  it('a customer bound through B who wrote only to A is refused while B’s window is used up, without calling WeCom', async () => {
    const { replies, ledger, wecom } = await setup();
    await ledger.closeWindow(KF_B, 'wm-b', WECOM_WINDOW_RULE);
    await ledger.customerSpoke(KF_A, 'wm-b', NOW - 1_000, 'cm-a');
    await expect(replies.reply('gw-1', text('r-1'))).rejects.toMatchObject({ code: 'SEND_WINDOW_CLOSED' });
    expect(wecom.sent).toEqual([]);
    expect(await ledger.window(KF_A, 'wm-b')).toEqual({ lastCustomerAt: NOW - 1_000, sentSince: 0 });
  });

  it('a reply from B takes its slot in B’s window, and the customer writing to B opens it again', async () => {
    const { replies, ledger, wecom } = await setup();
    await ledger.closeWindow(KF_A, 'wm-b', WECOM_WINDOW_RULE);
    await ledger.customerSpoke(KF_B, 'wm-b', NOW - 1_000, 'cm-b');
    await replies.reply('gw-1', text('r-1'));
    const sent = await replies.sendPrepared(
      'gw-1',
      { id: 'r-2', externalUserId: 'wm-b', msgtype: 'link', fingerprint: 'f' },
      async (msgid, openKfid) => wecom.sendText({ openKfid, toUser: `wm-b:${msgid.length > 0}` }),
    );
    expect(sent).toBe('w2');
    expect(wecom.sent).toEqual([
      { openKfid: KF_B, toUser: 'wm-b' },
      { openKfid: KF_B, toUser: 'wm-b:true' },
    ]);
    expect(await ledger.window(KF_B, 'wm-b')).toEqual({ lastCustomerAt: NOW - 1_000, sentSince: 2 });
    expect((await ledger.window(KF_A, 'wm-b')).sentSince).toBe(WECOM_WINDOW_RULE.maxSends);
  });

  it('WeCom saying B’s window is used up closes B’s window only', async () => {
    const { replies, ledger, wecom } = await setup();
    await ledger.customerSpoke(KF_A, 'wm-b', NOW - 1_000, 'cm-a');
    await ledger.customerSpoke(KF_B, 'wm-b', NOW - 1_000, 'cm-b');
    wecom.failWith = new WecomApiError('WECOM_API_ERROR', { api: 'kf/send_msg', errcode: 95001, errmsg: 'refused' });
    await expect(replies.reply('gw-1', text('r-1'))).rejects.toMatchObject({ code: 'SEND_WINDOW_CLOSED' });
    expect((await ledger.window(KF_B, 'wm-b')).sentSince).toBe(WECOM_WINDOW_RULE.maxSends);
    expect((await ledger.window(KF_A, 'wm-b')).sentSince).toBe(0);
  });
});

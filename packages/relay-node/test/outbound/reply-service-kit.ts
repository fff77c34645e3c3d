import { pino } from 'pino';
import { MemoryBindingStore, MemoryOutboundLedger, MemoryReplyRecordStore } from '../../src/state/memory/index.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { ReplyService, type ReplyServiceOptions, type ReplyWecom } from '../../src/outbound/reply-service.js';
import { Semaphore } from '../../src/util/semaphore.js';
import { WecomApiError } from '../../src/wecom/wecom-api-error.js';

/** What WeCom's errmsg really carries: the caller's egress IP. It must never reach a gateway. */
export const EGRESS_IP = '203.0.113.77';

/** A clock the test moves by hand. */
export interface ManualClock {
  now(): number;
  advance(ms: number): void;
}

/** A manual clock starting at a fixed instant. */
export function manualClock(start = Date.UTC(2026, 0, 1)): ManualClock {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

/** One kf/send_msg the stub took. */
export interface StubSend {
  toUser: string;
  content?: string;
  mediaId?: string;
  msgid: string;
}

/** A WeCom stub: records sends, fails on demand (queued errors), and can hold a send until released. */
export class WecomStub implements ReplyWecom {
  readonly sent: StubSend[] = [];
  /** Calls that reached the stub, including refused ones. */
  calls = 0;
  uploads = 0;
  private readonly failures: Array<Error> = [];
  private held: Array<() => void> = [];
  private holding = false;

  /** The next send(s) fail with this error. */
  failNext(...errors: Error[]): void {
    this.failures.push(...errors);
  }

  /** Sends wait until release() from now on. */
  hold(): void {
    this.holding = true;
  }

  /** Lets every held send go, and stops holding. */
  release(): void {
    this.holding = false;
    for (const go of this.held.splice(0)) go();
  }

  /** How many sends are waiting. */
  get waiting(): number {
    return this.held.length;
  }

  async sendText(req: { openKfid: string; toUser: string; content: string; msgid?: string }): Promise<{ msgid: string }> {
    return this.send({ toUser: req.toUser, content: req.content, msgid: req.msgid ?? `auto-${this.calls}` });
  }

  async sendImage(req: { openKfid: string; toUser: string; mediaId: string; msgid?: string }): Promise<{ msgid: string }> {
    return this.send({ toUser: req.toUser, mediaId: req.mediaId, msgid: req.msgid ?? `auto-${this.calls}` });
  }

  async upload(): Promise<string> {
    this.uploads++;
    return `media-${this.uploads}`;
  }

  private async send(message: StubSend): Promise<{ msgid: string }> {
    this.calls++;
    if (this.holding) await new Promise<void>((resolve) => this.held.push(resolve));
    const failure = this.failures.shift();
    if (failure) throw failure;
    this.sent.push(message);
    return { msgid: message.msgid };
  }
}

/** A WeCom refusal as the client raises it, with WeCom's errmsg (naming the egress IP). */
export function wecomRefusal(errcode: number, api = 'kf/send_msg'): WecomApiError {
  return new WecomApiError('WECOM_API_ERROR', {
    api,
    errcode,
    errmsg: `refused, hint: [1700000000_1_abc], from ip: ${EGRESS_IP}, more info at https://open.work.weixin.qq.com/devtool/query?e=${errcode}`,
  });
}

/** A ReplyService on memory stores, a manual clock and the stub, with one user bound to one gateway. */
export async function replyKit(overrides: Partial<ReplyServiceOptions> = {}) {
  const clock = manualClock();
  const wecom = new WecomStub();
  const bindings = new MemoryBindingStore();
  const ledger = new MemoryOutboundLedger({ now: clock.now });
  const records = new MemoryReplyRecordStore({ now: clock.now });
  const metrics = createMetrics('test-node');
  await bindings.bind('wm-alice', 'gw-1');
  await bindings.bind('wm-bob', 'gw-1');
  const service = new ReplyService({
    bindings,
    ledger,
    records,
    wecom,
    transfers: new Semaphore(2),
    openKfid: 'wk-test',
    nodeId: 'node-test',
    rateLimit: { perSecond: 1000, burst: 1000 },
    logger: pino({ level: 'silent' }),
    metrics,
    now: clock.now,
    // Waiting for a copy in flight moves the manual clock, so the wait's bound is reached without real time.
    sleep: async (ms) => {
      clock.advance(ms);
      await new Promise((resolve) => setImmediate(resolve));
    },
    ...overrides,
  });
  /** Sum of a counter's values for the given labels. */
  const count = async (metric: keyof typeof metrics, labels: Record<string, string> = {}): Promise<number> => {
    const m = metrics[metric] as { get(): Promise<{ values: Array<{ value: number; labels: Record<string, unknown> }> }> };
    const { values } = await m.get();
    return values
      .filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))
      .reduce((sum, v) => sum + v.value, 0);
  };
  /** A second node: its own service (and WeCom client) on the same stores and clock. */
  const otherNode = (extra: Partial<ReplyServiceOptions> = {}) => {
    const otherWecom = new WecomStub();
    const other = new ReplyService({
      bindings,
      ledger,
      records,
      wecom: otherWecom,
      transfers: new Semaphore(2),
      openKfid: 'wk-test',
      nodeId: 'node-other',
      rateLimit: { perSecond: 1000, burst: 1000 },
      logger: pino({ level: 'silent' }),
      metrics: createMetrics('other-node'),
      now: clock.now,
      sleep: async (ms) => {
        clock.advance(ms);
        await new Promise((resolve) => setImmediate(resolve));
      },
      ...extra,
    });
    return { service: other, wecom: otherWecom };
  };
  return { clock, wecom, bindings, ledger, records, metrics, service, count, otherNode };
}

/** A reply command. */
export function text(id: string, content: string, externalUserId = 'wm-alice') {
  return { type: 'reply' as const, id, externalUserId, content };
}

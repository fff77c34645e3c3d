import { setTimeout as sleep } from 'node:timers/promises';
import type { FakeWecomControlClient } from '@wecom-relay/testkit';

/** A WeCom user and the gateway it is bound to. */
export interface LoadTarget {
  user: string;
  gatewayId: string;
}

/** One customer message the load put into WeCom's log. */
export interface SentMessage {
  msgid: string;
  user: string;
  gatewayId: string;
  /** Position among this user's messages (0, 1, ...): the order the user wrote them in. */
  seq: number;
  sentAt: number;
}

/** What announcing one message to the relays produced: the HTTP status of each callback POST (null: no answer). */
export type AnnounceOutcome = (number | null)[];

/** Options of {@link InboundLoad}. */
export interface InboundLoadOptions {
  control: FakeWecomControlClient;
  targets: readonly LoadTarget[];
  ratePerSec: number;
  /** Goes into every message's text, so scenarios sharing a cluster never share content. */
  label: string;
  /**
   * Tells the relays about a message, as WeCom's callback does; runs beside the load, never holding up the next
   * message. Default: one callback to the configured URL (the balancer).
   */
  announce?: (message: SentMessage) => Promise<AnnounceOutcome>;
}

/**
 * Steady inbound traffic: WeCom users (round robin over the targets) write one message every 1/rate seconds.
 * Messages are appended one after another, so each user's order in WeCom's log is the order of `seq`.
 */
export class InboundLoad {
  /** Every message appended so far, in order. */
  readonly sent: SentMessage[] = [];
  /** Callback POSTs made, and those not answered 200 (a dead node, Redis away, ...). */
  callbacks = 0;
  callbacksFailed = 0;
  /** Appends the fake refused or did not answer (each is retried, so none is silently missing). */
  appendErrors = 0;
  private readonly seqByUser = new Map<string, number>();
  private readonly announcing = new Set<Promise<void>>();
  private running: Promise<void> | null = null;
  private stopping = false;
  private next = 0;

  constructor(private readonly o: InboundLoadOptions) {
    if (o.targets.length === 0) throw new RangeError('load needs at least one target');
    if (!(o.ratePerSec > 0)) throw new RangeError('ratePerSec must be positive');
  }

  /** Starts writing; returns at once. */
  start(): void {
    if (this.running) return;
    this.stopping = false;
    this.running = this.loop();
  }

  /** Stops writing and waits for the last message's callbacks to be answered. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
    this.running = null;
    await Promise.allSettled([...this.announcing]);
  }

  private async loop(): Promise<void> {
    const interval = 1000 / this.o.ratePerSec;
    let due = Date.now();
    while (!this.stopping) {
      await this.sendOne();
      due += interval;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      // Far behind (the fake stalled): start a fresh schedule rather than bursting to catch up.
      else if (wait < -2_000) due = Date.now();
    }
  }

  private async sendOne(): Promise<void> {
    const target = this.o.targets[this.next % this.o.targets.length]!;
    this.next += 1;
    const seq = this.seqByUser.get(target.user) ?? 0;
    for (;;) {
      try {
        const { msgid } = await this.o.control.customerMessage({
          external_userid: target.user,
          msgtype: 'text',
          content: `${this.o.label} ${target.user} #${seq}`,
          deliver: false,
        });
        const message: SentMessage = { msgid, user: target.user, gatewayId: target.gatewayId, seq, sentAt: Date.now() };
        this.seqByUser.set(target.user, seq + 1);
        this.sent.push(message);
        this.track(message);
        return;
      } catch {
        this.appendErrors += 1;
        if (this.stopping) return;
        await sleep(200);
      }
    }
  }

  private track(message: SentMessage): void {
    const announce = this.o.announce ?? (async () => (await this.o.control.callback({})).map((r) => r.status));
    const job = announce(message)
      .then((statuses) => {
        this.callbacks += statuses.length;
        this.callbacksFailed += statuses.filter((s) => s !== 200).length;
      })
      .catch(() => {
        this.callbacksFailed += 1;
      })
      .finally(() => this.announcing.delete(job));
    this.announcing.add(job);
  }
}

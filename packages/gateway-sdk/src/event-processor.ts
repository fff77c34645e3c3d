import type { Clock, TimerHandle } from './clock.js';
import { dedupKeys, type DeliveryStore } from './delivery-store.js';
import type { DeliveredEvent } from './events.js';
import type { ReplyResult } from './pending-requests.js';

/** What the application's handler gets beside the event. */
export interface Delivery {
  /** The relay's delivery id, when the event came through the durable queue. */
  readonly deliveryId: string | undefined;
  /** True once the event is recorded as processed and acknowledged. */
  readonly acked: boolean;
  /**
   * Records the event as processed and acknowledges it now, before your handler finishes. After this the event
   * is never delivered again, even if the handler then fails or the process dies: use it to trade exactly-once
   * for at-most-once on purpose. Without it the SDK does the same once every handler has finished.
   */
  ack(): Promise<void>;
  /**
   * A request id derived from this event, the same on every redelivery: `<event key>:<n>` for the n-th reply
   * (from 1) of this handler run. Replies sent through `reply`/`imageReply` use it.
   */
  nextRequestId(): string;
  /** Replies to the event's WeCom user with a request id from {@link nextRequestId} (unless you pass one). */
  reply(content: string, options?: { id?: string }): Promise<ReplyResult>;
  /** Sends an image to the event's WeCom user, with a derived request id like {@link reply}. */
  imageReply(image: Uint8Array | string, mime: string, options?: { id?: string }): Promise<ReplyResult>;
}

/** The gateway's reply commands, as the processor's deliveries use them. */
export interface ReplySender {
  reply(externalUserId: string, content: string, options: { id: string }): Promise<ReplyResult>;
  imageReply(externalUserId: string, image: Uint8Array | string, mime: string, options: { id: string }): Promise<ReplyResult>;
}

/** What the processor needs of the gateway around it. */
export interface ProcessorHost {
  readonly gatewayId: string;
  readonly store: DeliveryStore;
  /** Runs the timer that sends a held-back delivery_ack. */
  readonly clock: Clock;
  /** How long a handled event's delivery_ack may be held back for later ones to share (0: none). */
  readonly ackDelayMs: number;
  /** Sends delivery_ack on the current socket, if one is open. */
  sendAck(deliveryId: string): void;
  /** Runs the application's handlers for the event; rejects when one of them failed. */
  runHandlers(event: DeliveredEvent, delivery: Delivery): Promise<void>;
  /**
   * A handler (or the store) failed. With `redeliver` the event stays unacknowledged and must come again, with
   * those after it; without, the handler had acknowledged it already.
   */
  onFailure(err: unknown, event: DeliveredEvent, redeliver: boolean): void;
  /** An event was handled and acknowledged. */
  onHandled(): void;
  readonly replies: ReplySender;
}


/** How many times more events without a delivery id may wait than acknowledged ones. */
const REPLAY_ALLOWANCE = 100;

/**
 * Most handled events one delivery_ack stands for. Acks are cumulative, so one for the last of a run acknowledges the
 * run; sending it at least this often keeps the relay's ack window (100 by default) from filling.
 */
const ACK_EVERY = 32;

/**
 * How long a handled event's delivery_ack waits, by default, for the acks of the events after it. Each ack frame costs
 * a socket write here and a read and a queue write on the relay; a gateway that gets a message every second or so
 * sends one frame for several. The acknowledged id is in the store already, so a reconnect resumes after it
 * (resume_after) and a graceful close sends it: only a crash, with a store that does not survive it, sees the held
 * events again, as a consumer committing its offsets every 5 s (Kafka's default) does.
 */
export const DEFAULT_ACK_DELAY_MS = 5_000;

/** A stable key for request ids derived from an event. */
function eventKey(event: DeliveredEvent): string {
  switch (event.type) {
    case 'inbound':
      return event.id;
    case 'send_failed':
      return `sf-${event.msgid}`;
    case 'binding_resolved':
      return `br-${event.deliveryId ?? event.externalUserId}`;
    case 'servicer_message':
    case 'session_entered':
    case 'session_status':
    case 'message_recalled':
    case 'customer_rejected':
      return `${event.type}-${event.id}`;
  }
}

class DeliveryHandle implements Delivery {
  private replies = 0;
  private recording: Promise<void> | undefined;
  acked = false;

  constructor(
    private readonly host: ProcessorHost,
    private readonly event: DeliveredEvent,
    /** The event's dedupKeys, made once: the seen check and the record share the strings (and their hashes). */
    private readonly keys: readonly string[],
    /** Acknowledges once handlers are done, possibly together with the events after it. */
    private readonly acknowledge: (deliveryId: string) => void,
    /** Acknowledges at once, with any acknowledgement held back. */
    private readonly acknowledgeNow: (deliveryId: string) => void,
  ) {}

  get deliveryId(): string | undefined {
    return this.event.deliveryId;
  }

  ack(): Promise<void> {
    this.recording ??= this.record(false);
    return this.recording;
  }

  /** The SDK's own acknowledgement after every handler finished: it may travel with those of the next events. */
  ackHandled(): Promise<void> {
    this.recording ??= this.record(true);
    return this.recording;
  }

  nextRequestId(): string {
    this.replies += 1;
    return `${eventKey(this.event)}:${this.replies}`;
  }

  reply(content: string, options: { id?: string } = {}): Promise<ReplyResult> {
    return this.host.replies.reply(this.event.externalUserId, content, { id: options.id ?? this.nextRequestId() });
  }

  imageReply(image: Uint8Array | string, mime: string, options: { id?: string } = {}): Promise<ReplyResult> {
    return this.host.replies.imageReply(this.event.externalUserId, image, mime, { id: options.id ?? this.nextRequestId() });
  }

  private async record(coalesce: boolean): Promise<void> {
    const id = this.event.deliveryId;
    // Events outside the durable queue (the binding replay after hello) have nothing to acknowledge.
    if (id === undefined) {
      this.acked = true;
      return;
    }
    // Recorded before it is acknowledged: a crash in between redelivers an event the store already knows.
    await this.host.store.record(this.host.gatewayId, this.keys, id);
    this.acked = true;
    // Asked for by the handler ("acknowledges it now"): sent at once, with any acknowledgement still held back.
    if (coalesce) this.acknowledge(id);
    else this.acknowledgeNow(id);
  }
}

/**
 * Runs the application's handlers for delivered events one at a time, in the order the relay sent them (so each
 * customer's messages are handled in order), drops events the store has seen, and acknowledges an event only
 * after its handlers finished. Memory is bounded: the relay never has more unacknowledged events in flight than
 * its ack window, and anything past `maxQueued` makes the gateway reconnect rather than buffer.
 */
export class EventProcessor {
  private readonly queue: DeliveredEvent[] = [];
  private running: Promise<void> | null = null;
  /** The newest handled event whose delivery_ack is held back for the events after it to share. */
  private heldAck: string | undefined;
  private heldCount = 0;
  /** Sends the held-back delivery_ack once `ackDelayMs` passed. */
  private ackTimer: TimerHandle = undefined;
  /** Repeats dropped since the gateway was created. */
  duplicatesDropped = 0;

  constructor(
    private readonly host: ProcessorHost,
    private readonly maxQueued: number,
  ) {}

  /**
   * Queues an event; false when the queue is full. Events without a delivery id (the binding replay after hello,
   * one per binding) are not held back by the relay's ack window, so they get a larger allowance.
   */
  push(event: DeliveredEvent): boolean {
    const bound = event.deliveryId === undefined ? this.maxQueued * REPLAY_ALLOWANCE : this.maxQueued;
    if (this.queue.length >= bound) return false;
    this.queue.push(event);
    this.running ??= this.run();
    return true;
  }

  /**
   * Forgets events not yet started: they were sent on a socket that is gone (or are behind a failed one), and
   * the relay sends them again after the last acknowledged event.
   */
  discardQueued(): void {
    this.queue.length = 0;
  }

  /**
   * The socket is gone: forgets the events not yet started and the held-back acknowledgement, whose id the store
   * holds already, so the next socket resumes after it (resume_after).
   */
  socketLost(): void {
    this.discardQueued();
    this.dropHeldAck();
  }

  /** Sends the held-back acknowledgement now (a graceful close). */
  flushAck(): void {
    this.sendHeldAck();
  }

  /** Resolves once the event being handled (if any) is finished. */
  async idle(): Promise<void> {
    await this.running;
  }

  private async run(): Promise<void> {
    try {
      for (let event = this.queue.shift(); event; event = this.queue.shift()) {
        await this.process(event);
      }
    } finally {
      // In the same turn as the last empty shift, so an event pushed after it always starts a new run.
      this.running = null;
      if (this.host.ackDelayMs <= 0) this.sendHeldAck();
    }
  }

  /**
   * Acknowledges a handled event, held back for the events after it (acks are cumulative): sent for the last of a
   * run, after `ackDelayMs` (at once when that is 0 and nothing waits), or once it stands for `ACK_EVERY` events.
   */
  private acknowledge(deliveryId: string): void {
    this.heldAck = deliveryId;
    this.heldCount += 1;
    if (this.heldCount >= ACK_EVERY) this.sendHeldAck();
    else if (this.host.ackDelayMs <= 0) {
      if (this.queue.length === 0) this.sendHeldAck();
    } else if (this.ackTimer === undefined) {
      this.ackTimer = this.host.clock.setTimeout(() => {
        this.ackTimer = undefined;
        this.sendHeldAck();
      }, this.host.ackDelayMs);
    }
  }

  /** An acknowledgement asked for by the handler: it goes at once and stands for any held back (acks are cumulative). */
  private acknowledgeNow(deliveryId: string): void {
    this.dropHeldAck();
    this.host.sendAck(deliveryId);
  }

  private sendHeldAck(): void {
    const id = this.heldAck;
    this.dropHeldAck();
    if (id !== undefined) this.host.sendAck(id);
  }

  private dropHeldAck(): void {
    this.heldAck = undefined;
    this.heldCount = 0;
    if (this.ackTimer !== undefined) this.host.clock.clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
  }

  private async process(event: DeliveredEvent): Promise<void> {
    const keys = dedupKeys(event);
    const delivery = new DeliveryHandle(
      this.host,
      event,
      keys,
      (id) => this.acknowledge(id),
      (id) => this.acknowledgeNow(id),
    );
    try {
      if (keys.length > 0 && (await this.host.store.seen(this.host.gatewayId, keys))) {
        this.duplicatesDropped += 1;
        // Seen before, so handled before: the relay sent it again because it missed our acknowledgement.
        if (event.deliveryId !== undefined) this.acknowledge(event.deliveryId);
        return;
      }
    } catch (err) {
      this.fail(err, event);
      return;
    }
    try {
      await this.host.runHandlers(event, delivery);
    } catch (err) {
      // Acknowledged by the handler itself before it failed: the application chose not to see it again.
      if (!delivery.acked) {
        this.fail(err, event);
        return;
      }
      this.host.onFailure(err, event, false);
      return;
    }
    try {
      await delivery.ackHandled();
    } catch (err) {
      this.fail(err, event);
      return;
    }
    this.host.onHandled();
  }

  private fail(err: unknown, event: DeliveredEvent): void {
    // Later events wait behind this one: acknowledging them would acknowledge it too (acks are cumulative). Those
    // before it were handled: their held-back acknowledgement goes now.
    this.discardQueued();
    this.sendHeldAck();
    this.host.onFailure(err, event, true);
  }
}

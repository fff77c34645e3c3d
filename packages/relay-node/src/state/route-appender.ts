import type { QueuedEvent } from '@wecom-relay/shared';
import type { DecisionPlacement } from './dedup-store.js';
import type { PresenceEntry } from './presence-map.js';

/** One message for {@link RouteAppender.decideAndAppend}. */
export interface RouteAppendEntry {
  /** The message's decision key and placement, as {@link DedupStore.decide} takes them. */
  key: string;
  placement: DecisionPlacement;
  /** The message's user. */
  userId: string;
  /**
   * The gateway the message's user is bound to, as the caller last read it: the decision taken when none stands. An
   * appender that checks bindings takes it only while the user is still bound to it (see {@link RouteAppendResult.moved}).
   */
  gatewayId: string;
  event: QueuedEvent;
  /** The queue dedup key a relay of the previous version appended the message with (its msgid). */
  dedupKey: string;
}

/** What stands for one message after {@link RouteAppender.decideAndAppend}. */
export interface RouteAppendResult {
  /** The decision that stands: the one taken now, or the one found; '' where the user {@link moved}. */
  decision: string;
  /**
   * Set where no decision stood and the user is no longer bound to the entry's gateway (an appender that checks
   * bindings): nothing was decided or appended, the caller routes the message again from the binding as it is now.
   */
  moved?: true;
  /** The queue id when this call appended the message, else null. */
  id: string | null;
  /**
   * Where this call appended the message: the id its queue ended with just before (null: the queue was empty) and when
   * it was appended (epoch ms, the store's clock), so the message can travel with its wake-up (see AppendedRun).
   */
  appended?: { after: string | null; enqueuedAt: number };
  /**
   * Where the decision that stands is for the entry's gateway: that gateway's live owner (null: none), read after the
   * call's appends, as a wake-up after an append reads it. Absent otherwise, and when the appender does not read owners.
   */
  owner?: PresenceEntry | null;
}

/** A customer's message noted in their send window with one account, as the ledger's customerSpoke notes it. */
export interface WindowNote {
  openKfid: string;
  externalUserId: string;
  /** When the customer wrote (epoch ms). */
  atMs: number;
  msgid: string;
}

/**
 * Takes messages' routing decisions and queues them in one atomic step, where the decisions and every gateway's queue
 * sit on one Redis server. A message with no decision yet is appended to its gateway's queue and gets the decision
 * `=<gateway>` in the same step (see isQueuedDecision), so a standing decision of that kind means "queued already" and
 * no queue dedup marker is written for it. A standing `><gateway>` for the entry's own gateway (taken by the
 * one-by-one dispatcher, or by a relay of the previous version) gets the append it may have missed, unless its queue
 * marker shows the append happened. Any other standing decision is answered as it is, with nothing appended: the caller
 * handles it as the dispatcher would.
 */
export interface RouteAppender {
  /**
   * Whether a new decision is taken only while the entry's user is still bound to the entry's gateway, checked in the
   * same atomic step (so a caller may route from bindings it remembers: a stale one comes back {@link RouteAppendResult.moved}).
   */
  readonly checksBindings: boolean;
  /**
   * Resolves to one result per entry, in order; entries of one gateway are appended in the order given, and a user's
   * entries go in one atomic step, so their binding is checked once for all of them (every one without a standing
   * decision moves, or none). The `windows` are noted before anything is appended.
   */
  decideAndAppend(entries: readonly RouteAppendEntry[], decisionTtlMs: number, windows?: readonly WindowNote[]): Promise<RouteAppendResult[]>;
}

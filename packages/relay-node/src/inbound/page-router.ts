import type { Logger } from 'pino';
import { WECOM_ORIGIN, type KfMessage } from '@wecom-relay/shared';
import { looksLikeBindingToken } from '../binding/binding-service.js';
import type { BatchEnqueuer } from '../delivery/enqueue-batch.js';
import type { RelayMetrics } from '../observability/metrics.js';
import type { BindingStore } from '../state/binding-store.js';
import type { DedupStore } from '../state/dedup-store.js';
import type { AppendedRun, QueueAppendEntry } from '../state/delivery-queue.js';
import { AppendedRuns } from '../delivery/appended-run.js';
import type { OutboundLedger } from '../state/outbound-ledger.js';
import type { PresenceEntry } from '../state/presence-map.js';
import type { RouteAppender, WindowNote } from '../state/route-appender.js';
import { chunkByUser } from '../state/user-chunks.js';
import { RecentMap } from '../util/recent-map.js';
import type { InboundDispatcher } from './inbound-dispatcher.js';
import type { PullContext } from './sync-loop.js';
import { toInboundEvent } from './message-mapper.js';
import { BINDING_EVENT, decidedGateway, gatewayDecision, isQueuedDecision, placementOf, ROUTE_DECISION_TTL_MS, routeDecisionKey, UNBOUND } from './route-decision.js';

/** Options for {@link PageRouter}. */
export interface PageRouterOptions {
  /** Handles, one at a time in page order, the messages of every user whose part of the page is not plain. */
  dispatcher: Pick<InboundDispatcher, 'dispatch'>;
  bindings: Pick<BindingStore, 'gatewayFor'>;
  ledger: Pick<OutboundLedger, 'customerSpoke'>;
  /** Where each message's routing decision is recorded, as the dispatcher records it. */
  dedup: Pick<DedupStore, 'decideMany'>;
  enqueuer: Pick<BatchEnqueuer, 'enqueue'>;
  /** Where decisions and queues share one server: decides and queues the plain messages in one step. */
  appender?: RouteAppender;
  logger: Logger;
  metrics: RelayMetrics;
  /** As {@link InboundDispatcherOptions.firstPullMaxAgeMs}. */
  firstPullMaxAgeMs: number;
  /** As {@link InboundDispatcherOptions.tagAccount}. */
  tagAccount?: boolean;
  /** How many non-plain users are handled side by side; default 32. */
  concurrency?: number;
  now?: () => number;
}

/**
 * Routes a pulled page as a whole instead of message by message. The customer messages of users whose part of the
 * page holds nothing else (no event, no binding token, no servicer message) are "plain": their send windows, bindings
 * and routing decisions are read side by side, then each gateway's messages are appended with one round trip and
 * every owning node is woken once (on one Redis server, once per route step, the steps pipelined, so owners write a
 * page's first frames while Redis still works on its last). A user with anything else on the page has all of it
 * handled by the {@link InboundDispatcher}, one message after the other as before, so a binding in the middle of a
 * user's messages still applies to exactly the messages after it.
 *
 * Every step is what the dispatcher does for one message, with the same records: the routing decision is still
 * taken once per msgid, cluster-wide, before the append, and appends carry the msgid as their dedup key; so a page
 * pulled twice, half by the dispatcher and half here, or by nodes of two versions, hands each message on once.
 * Per-user order holds: a user's messages keep page order inside their gateway's batch.
 */
export class PageRouter {
  private readonly now: () => number;
  /**
   * Where the appender checks bindings: the gateway each user was last read bound to, the one read longest ago dropped
   * first. A hint that saves the read before the route step, never the word on where a message goes.
   */
  private readonly remembered: RecentMap<string, string> | null;

  constructor(private readonly o: PageRouterOptions) {
    this.now = o.now ?? Date.now;
    this.remembered = o.appender?.checksBindings ? new RecentMap<string, string>(REMEMBERED_USERS) : null;
  }

  /** Handles one page from kf/sync_msg; safe to call again with the same page. Rejects if any message failed. */
  async route(messages: readonly KfMessage[], context: PullContext): Promise<void> {
    const byUser = new Map<string, KfMessage[]>();
    for (const m of messages) {
      const key = userOf(m);
      const list = byUser.get(key);
      if (list) list.push(m);
      else byUser.set(key, [m]);
    }
    const others: KfMessage[][] = [];
    for (const [user, list] of byUser) {
      if (list.every(isPlainCustomerMessage)) continue;
      others.push(list);
      byUser.delete(user);
    }
    // Page order, so gateways receive their users' messages interleaved as WeCom served them.
    const plain = messages.filter((m) => byUser.has(userOf(m)));
    const results = await Promise.allSettled([this.routePlain(plain, context), this.dispatchInOrder(others, context)]);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  }

  private async routePlain(page: KfMessage[], context: PullContext): Promise<void> {
    const { metrics } = this.o;
    const messages: KfMessage[] = [];
    for (const m of page) {
      if (context.firstPull && Number(m.send_time) * 1000 < this.now() - this.o.firstPullMaxAgeMs) {
        metrics.messagesIn.inc({ msgtype: msgtypeOf(m), outcome: 'history' });
      } else {
        messages.push(m);
      }
    }
    if (messages.length === 0) return;
    // The customer wrote: WeCom's send window with the account written to starts again. Only the user's latest message
    // of the page per account matters to the window (an earlier one would be overtaken by it at once), so one call each.
    const latest = new Map<string, KfMessage>();
    for (const m of messages) {
      const key = `${m.open_kfid || context.openKfid}\n${m.external_userid!}`;
      const prior = latest.get(key);
      if (!prior || this.spokeAt(m) >= this.spokeAt(prior)) latest.set(key, m);
    }
    if (this.o.appender) {
      await this.routeAppending(this.o.appender, messages, [...latest.values()], context);
      return;
    }
    // Noted side by side with the routing steps (neither needs the other), but before any message is queued: a gateway
    // that answers a message must find the window it opened.
    const spoken = this.noteSpoken([...latest.values()], context);
    const [, decisions] = await Promise.all([spoken, this.bindingsOf(messages.map((m) => m.external_userid!)).then((current) => this.decide(messages, current))]);
    await this.queueDecided(messages.map((m, i) => [m, decisions[i]!] as const));
  }

  /**
   * With a route appender: the messages of each bound user whose messages all carry a send_time are decided and
   * queued in steps (of 25 messages, then each twice the last, up to 256; a user's messages all in the step of the
   * user's first), in page order, each step's owners woken as soon as it is done; each step notes its users' send
   * windows before it queues. The rest are decided as without one, their windows noted before they are queued. What the
   * appender found decided otherwise (for another gateway, or not for a gateway), or found moved, is queued as a decided
   * message is, after every step. A step that fails fails the page (pulled again, it queues nothing twice); the steps
   * that went through have woken their owners already.
   *
   * Where the appender checks bindings, the users' remembered bindings are used as they are: the first step goes out
   * with no round trip before it. A remembered binding that went stale cannot misroute: the step takes no decision for
   * a user no longer bound to the gateway given, and answers moved; the user's messages are then routed from the
   * binding read anew, after the steps, in page order.
   */
  private async routeAppending(appender: RouteAppender, messages: KfMessage[], latest: KfMessage[], context: PullContext): Promise<void> {
    const current = await this.bindingsRemembered([...new Set(messages.map((m) => m.external_userid!))]);
    const whole = new Map<string, boolean>();
    for (const m of messages) {
      const user = m.external_userid!;
      whole.set(user, (whole.get(user) ?? current.get(user) !== null) && placementOf(m) !== undefined);
    }
    const appending: Array<[index: number, message: KfMessage]> = [];
    const rest: Array<[index: number, message: KfMessage]> = [];
    messages.forEach((m, i) => (whole.get(m.external_userid!) ? appending : rest).push([i, m]));
    const windows = new Map<string, WindowNote[]>();
    const restLatest: KfMessage[] = [];
    for (const m of latest) {
      const user = m.external_userid!;
      if (!whole.get(user)) {
        restLatest.push(m);
        continue;
      }
      const note = { openKfid: m.open_kfid || context.openKfid, externalUserId: user, atMs: this.spokeAt(m), msgid: m.msgid! };
      const list = windows.get(user);
      if (list) list.push(note);
      else windows.set(user, [note]);
    }
    const decided: Array<[index: number, message: KfMessage, decision: string]> = [];
    const moved: Array<[index: number, message: KfMessage]> = [];
    const steps = chunkByUser(appending, ([, m]) => m.external_userid!, (step) => (step === 0 ? FIRST_STEP_ENTRIES : MAX_STEP_ENTRIES)).map((step) => {
      const notes = [...new Set(step.map(([, m]) => m.external_userid!))].flatMap((user) => windows.get(user) ?? []);
      return this.appendStep(appender, step, current, notes, decided, moved);
    });
    const [decisions] = await Promise.all([
      this.decide(
        rest.map(([, m]) => m),
        current,
      ),
      // Before any of the rest is queued, as without an appender.
      this.noteSpoken(restLatest, context),
      ...steps,
    ]);
    rest.forEach(([i, m], n) => decided.push([i, m, decisions[n]!]));
    if (moved.length > 0) {
      // Their windows are noted (by their step); their decisions are taken now, from their bindings as they are.
      const users = [...new Set(moved.map(([, m]) => m.external_userid!))];
      for (const user of users) this.remembered?.delete(user);
      const fresh = await this.bindingsRemembered(users);
      const again = await this.decide(
        moved.map(([, m]) => m),
        fresh,
      );
      moved.forEach(([i, m], n) => decided.push([i, m, again[n]!]));
    }
    if (decided.length === 0) return;
    decided.sort((a, b) => a[0] - b[0]);
    await this.queueDecided(decided.map(([, m, decision]) => [m, decision] as const));
  }

  /**
   * One route step: notes its users' windows, decides and queues its messages, then wakes their owners at once, while
   * the next step's messages are still in Redis. What it found decided otherwise goes to `decided`, what it found moved
   * to `moved`, for the caller.
   */
  private async appendStep(
    appender: RouteAppender,
    appending: ReadonlyArray<readonly [index: number, message: KfMessage]>,
    current: ReadonlyMap<string, string | null>,
    windows: readonly WindowNote[],
    decided: Array<[index: number, message: KfMessage, decision: string]>,
    moved: Array<[index: number, message: KfMessage]>,
  ): Promise<void> {
    const entries = appending.map(([, m]) => ({
      key: routeDecisionKey(m.msgid!),
      placement: placementOf(m)!,
      userId: m.external_userid!,
      gatewayId: current.get(m.external_userid!)!,
      event: toInboundEvent({ ...m, external_userid: m.external_userid! }, this.o.tagAccount),
      dedupKey: m.msgid!,
    }));
    const results = await appender.decideAndAppend(entries, ROUTE_DECISION_TTL_MS, windows);
    const queued = new Map<string, number>();
    const owners = new Map<string, PresenceEntry | null>();
    const runs = new AppendedRuns();
    appending.forEach(([i, m], n) => {
      const { decision, id, owner, appended } = results[n]!;
      if (results[n]!.moved) {
        moved.push([i, m]);
        return;
      }
      const gatewayId = decidedGateway(decision);
      const msgtype = msgtypeOf(m);
      // Read for the entry's own gateway only, which is then the decided one.
      if (owner !== undefined) owners.set(gatewayId!, owner);
      if (id !== null) {
        runs.add(gatewayId!, id, entries[n]!.event, appended);
        queued.set(gatewayId!, (queued.get(gatewayId!) ?? 0) + 1);
        this.o.metrics.messagesIn.inc({ msgtype, outcome: 'queued' });
      } else if (isQueuedDecision(decision) || decision === gatewayDecision(current.get(m.external_userid!)!)) {
        // Queued already (by the pull this one repeats): the owner is still woken, as for any duplicate.
        queued.set(gatewayId!, queued.get(gatewayId!) ?? 0);
        this.o.metrics.messagesIn.inc({ msgtype, outcome: 'duplicate' });
      } else {
        decided.push([i, m, decision]);
      }
    });
    await this.queueDecided([], queued, owners, runs.complete());
  }

  /** Notes each message's send window with the ledger (the latest message of a user per account). */
  private async noteSpoken(latest: readonly KfMessage[], context: PullContext): Promise<void> {
    await Promise.all(latest.map((m) => this.o.ledger.customerSpoke(m.open_kfid || context.openKfid, m.external_userid!, this.spokeAt(m), m.msgid)));
  }

  /**
   * Queues decided messages: each gateway's in the order given, with one round trip, every owning node woken once
   * (with the gateways in `queued`, whose messages are queued already, and whose owners may be in `owners`).
   */
  private async queueDecided(
    decided: ReadonlyArray<readonly [KfMessage, string]>,
    queued: ReadonlyMap<string, number> = new Map(),
    owners: ReadonlyMap<string, PresenceEntry | null> = new Map(),
    runs: ReadonlyMap<string, AppendedRun> = new Map(),
  ): Promise<void> {
    const { metrics, logger } = this.o;
    // Page order within each gateway's batch keeps every user's order.
    const batches = new Map<string, QueueAppendEntry[]>();
    const routed = new Map<string, KfMessage[]>();
    const woken = new Map(queued);
    for (const [m, decision] of decided) {
      const msgtype = msgtypeOf(m);
      if (decision === BINDING_EVENT) {
        metrics.messagesIn.inc({ msgtype, outcome: 'binding' });
        continue;
      }
      const gatewayId = decidedGateway(decision);
      if (gatewayId === null) {
        logger.info({ msgid: m.msgid, externalUserId: m.external_userid }, 'message from an unbound user dropped');
        metrics.messagesIn.inc({ msgtype, outcome: 'unbound' });
        continue;
      }
      if (isQueuedDecision(decision)) {
        // Queued in the step that decided it (one Redis server), with no queue marker: appending would double it.
        woken.set(gatewayId, woken.get(gatewayId) ?? 0);
        metrics.messagesIn.inc({ msgtype, outcome: 'duplicate' });
        continue;
      }
      const placement = placementOf(m);
      const entry: QueueAppendEntry = {
        event: toInboundEvent({ ...m, external_userid: m.external_userid! }, this.o.tagAccount),
        options: { dedupKey: m.msgid!, ...(placement ? { dedupAt: placement.at } : {}) },
      };
      const batch = batches.get(gatewayId);
      if (batch) {
        batch.push(entry);
        routed.get(gatewayId)!.push(m);
      } else {
        batches.set(gatewayId, [entry]);
        routed.set(gatewayId, [m]);
      }
    }
    if (batches.size === 0 && woken.size === 0) return;
    const ids = await this.o.enqueuer.enqueue(batches, woken, owners, runs);
    for (const [gatewayId, list] of routed) {
      const gatewayIds = ids.get(gatewayId) ?? [];
      list.forEach((m, i) => metrics.messagesIn.inc({ msgtype: msgtypeOf(m), outcome: gatewayIds[i] ? 'queued' : 'duplicate' }));
    }
  }

  /** The gateway each user is bound to now (null: none). */
  private async bindingsOf(users: readonly string[]): Promise<Map<string, string | null>> {
    const unique = [...new Set(users)];
    const bound = await Promise.all(unique.map((user) => this.o.bindings.gatewayFor(user)));
    return new Map(unique.map((user, i) => [user, bound[i] ?? null]));
  }

  /** The gateway each user was last read bound to where remembered, else as it is now (then remembered, if bound). */
  private async bindingsRemembered(users: readonly string[]): Promise<Map<string, string | null>> {
    const remembered = this.remembered;
    if (!remembered) return await this.bindingsOf(users);
    const current = new Map<string, string | null>();
    const unread: string[] = [];
    for (const user of users) {
      const gatewayId = remembered.get(user);
      if (gatewayId === undefined) unread.push(user);
      else current.set(user, gatewayId);
    }
    if (unread.length === 0) return current;
    for (const [user, gatewayId] of await this.bindingsOf(unread)) {
      current.set(user, gatewayId);
      if (gatewayId !== null) remembered.set(user, gatewayId);
    }
    return current;
  }

  /** Each message's routing decision (taken now, from its user's current binding, unless one already stands). */
  private async decide(messages: readonly KfMessage[], current: ReadonlyMap<string, string | null>): Promise<string[]> {
    if (messages.length === 0) return [];
    return await this.o.dedup.decideMany(
      messages.map((m) => {
        const gatewayId = current.get(m.external_userid!);
        const placement = placementOf(m);
        return { key: routeDecisionKey(m.msgid!), value: gatewayId ? gatewayDecision(gatewayId) : UNBOUND, ...(placement ? { placement } : {}) };
      }),
      ROUTE_DECISION_TTL_MS,
    );
  }

  /** Each user's messages strictly in order, different users side by side (at most `concurrency` at once). */
  private async dispatchInOrder(lists: KfMessage[][], context: PullContext): Promise<void> {
    let next = 0;
    let failure: { error: unknown } | null = null;
    const worker = async (): Promise<void> => {
      while (next < lists.length && failure === null) {
        const list = lists[next++]!;
        try {
          for (const m of list) await this.o.dispatcher.dispatch(m, context);
        } catch (error) {
          failure ??= { error };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.concurrency ?? 32, lists.length) }, worker));
    if (failure !== null) throw (failure as { error: unknown }).error;
  }

  /** When the customer spoke, in epoch ms (now, when WeCom gave no send_time), as the dispatcher records it. */
  private spokeAt(m: KfMessage): number {
    return (Number(m.send_time) || this.now() / 1000) * 1000;
  }
}

// Messages the route steps take: a page goes as several steps, pipelined, each waking its owners as soon as it is
// done, so owners write a page's first frames while Redis still works on the rest. The first is small, for the first
// frames; the rest go in steps of the most a script call takes, so a page of 100 costs 2 script calls and 2 wake-ups
// per owning node, and a page of 1,000 costs 5 (each call reads the tree sizes and owners it needs on its own; steps of
// 25 throughout cost 40). Steps doubling from 25 cost 3 calls and wake-ups for a page of 100: five alternating
// relay-only runs of the steady rate measured the nodes at 258 µs a message (median) against 283, Redis at 55.8 µs
// against 61.8, latency p99 alike (39.7 and 37.9 ms), the burst alike.
const FIRST_STEP_ENTRIES = 25;
const MAX_STEP_ENTRIES = 256;

// Users whose bindings a router remembers, about 210 bytes each (at most 10 MiB); the one remembered longest ago goes
// first. A stale one costs a read, never a misroute, so the bound only keeps the memory flat.
const REMEMBERED_USERS = 50_000;

/** A customer's own message that is routed to their gateway and nothing else: no event, no token, not a servicer's. */
function isPlainCustomerMessage(m: KfMessage): boolean {
  if (!m.msgid || !m.external_userid || m.msgtype === 'event' || m.event) return false;
  if (Number(m.origin) !== WECOM_ORIGIN.CUSTOMER) return false;
  if (m.msgtype !== 'text') return true;
  const text = String((m.text as { content?: unknown } | undefined)?.content ?? '');
  return !(text && looksLikeBindingToken(text));
}

/** The user a message belongs to, as the sync loop groups them (a message with no user is its own group). */
function userOf(m: KfMessage): string {
  const event = m.event as { external_userid?: unknown } | undefined;
  return m.external_userid ?? (typeof event?.external_userid === 'string' ? event.external_userid : `msg:${m.msgid}`);
}

function msgtypeOf(m: KfMessage): string {
  return String(m.msgtype ?? 'unknown');
}

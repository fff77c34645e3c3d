import type { Logger } from 'pino';
import type { KfMessage, SyncMsgResponse } from '@wecom-relay/shared';
import type { NextPull, SyncCoordinator, SyncLease } from '../state/sync-coordinator.js';
import type { RelayMetrics } from '../observability/metrics.js';
import type { LeaseSpread } from './lease-spread.js';

/** What the loop needs from WeCom: one kf/sync_msg page. */
export interface SyncSource {
  syncMsg(req: { openKfid: string; cursor?: string; token?: string; limit?: number; voiceFormat?: 0 | 1 }): Promise<SyncMsgResponse>;
}

/** What a sink knows of the pull a message came from. */
export interface PullContext {
  /** No cursor was stored: the page may hold days of history. */
  firstPull: boolean;
  /** The kf account pulled: the account of a message that names none. */
  openKfid: string;
}

/** Receives every pulled message, in order; resolves once the message has been handed on (queued or dropped). */
export type MessageSink = (message: KfMessage, context: PullContext) => Promise<void>;

/** Receives a whole pulled page; resolves once every message of it has been handed on, rejects if any failed. */
export type PageSink = (messages: KfMessage[], context: PullContext) => Promise<void>;

/** Options for {@link SyncLoop}. */
export interface SyncLoopOptions {
  openKfid: string;
  source: SyncSource;
  coordinator: SyncCoordinator;
  sink: MessageSink;
  /** Takes whole pages instead of `sink` when given (the page router batches them). */
  pageSink?: PageSink;
  logger: Logger;
  metrics: RelayMetrics;
  now?: () => number;
  /**
   * Lease length; renewed every third of it while a pull runs. A holder that dies stops renewing, so another
   * node takes over within this long.
   */
  leaseMs?: number;
  /** Pull without a callback this often, for callbacks WeCom never delivered. */
  pollIntervalMs: number;
  /** The format customers' voice messages are pulled in (sync_msg voice_format): 0 AMR (WeCom's default), 1 SILK. */
  voiceFormat?: 0 | 1;
  /** Callback tokens are valid 10 minutes; stop using one a little before that. */
  tokenMaxAgeMs?: number;
  /** Delay before retrying a run that failed (WeCom or network error); doubles up to 30 s. */
  retryDelayMs?: number;
  /** How many users' messages of one page are handed on at once (each user's stay in order). */
  pageConcurrency?: number;
  /**
   * First wait when WeCom answers has_more=1 without moving the cursor; doubles (with jitter) up to
   * `stuckMaxDelayMs` for as long as the cursor stays put. Defaults 1 s and 30 s.
   */
  stuckDelayMs?: number;
  stuckMaxDelayMs?: number;
  /** Random source for the jitter, in [0, 1). */
  random?: () => number;
  /** Waits a back-off step; default a timer that close() cuts short (tests pass one that records the steps). */
  sleep?: (ms: number) => Promise<void>;
  /** Shared by a node's loops (one per kf account): a node holding other accounts' leases waits before taking this one. */
  spread?: LeaseSpread;
  /**
   * How long a new holder waits before its first pull, taking the marks noted meanwhile with it: callbacks that arrive
   * together (WeCom's to every node, a customer's burst) then share one pull instead of costing one each. 0 = none.
   */
  coalesceMs?: number;
}

const CALLBACK_TOKEN_INVALID = 95007;

/**
 * Pulls kf/sync_msg for one kf account whenever a callback (on any node) or the poll timer asks, with one
 * puller at a time cluster-wide. The cursor advances only after a page's messages were handed on, and only
 * while this node still holds the lease, so a crash or a stale holder repeats a page (dedup absorbs it)
 * rather than skipping one.
 */
export class SyncLoop {
  private readonly o: Required<Omit<SyncLoopOptions, 'now' | 'pageConcurrency' | 'sleep' | 'pageSink' | 'spread'>> & {
    now: () => number;
    pageConcurrency?: number;
    pageSink?: PageSink;
    sleep?: (ms: number) => Promise<void>;
    spread?: LeaseSpread;
  };
  /** Wakes a back-off wait early when the loop closes. */
  private wakeStuckWait: (() => void) | null = null;
  /** Pages in a row that said has_more without moving the cursor (logged once per such episode). */
  private stuckPages = 0;
  private running: Promise<void> | null = null;
  private rerun = false;
  private pollTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private busyTimer: NodeJS.Timeout | null = null;
  private failures = 0;
  private closed = false;

  constructor(options: SyncLoopOptions) {
    this.o = {
      leaseMs: 5_000,
      tokenMaxAgeMs: 9 * 60_000,
      retryDelayMs: 1_000,
      stuckDelayMs: 1_000,
      stuckMaxDelayMs: 30_000,
      random: Math.random,
      now: Date.now,
      voiceFormat: 0,
      coalesceMs: 0,
      ...options,
    };
  }

  /** Starts the periodic pull. */
  start(): void {
    this.o.metrics.syncLeaseHeld.set({ open_kfid: this.o.openKfid }, 0);
    this.pollTimer = setInterval(() => void this.request(null), this.o.pollIntervalMs);
    this.pollTimer.unref();
    void this.request(null);
  }

  /**
   * Records that WeCom announced messages (durably, before the webhook answers) and starts a pull in the
   * background. Rejects when the pending mark may not be stored (the note, or the note and acquire it is one step
   * with, failed), so the webhook can ask WeCom to retry.
   */
  async notify(callbackToken: string | null): Promise<void> {
    const { coordinator, openKfid, spread } = this.o;
    if (!this.running && !this.closed && (spread?.delayFor(openKfid) ?? 0) === 0) {
      // Nothing runs here and no other node is to be let first: note and try for the lease in one step, the run's first.
      const acquiring = coordinator.noteAndTryAcquire(openKfid, callbackToken, this.o.leaseMs);
      this.running = this.runUntilIdle(acquiring).finally(() => {
        this.running = null;
      });
      await acquiring;
      return;
    }
    const held = await coordinator.notePending(openKfid, callbackToken);
    if (held && !this.running) {
      // Another node holds the lease and takes the mark before it lets go (its release reads it): trying for the lease
      // now would only be refused. Should that node die, its lease runs out: look again then.
      this.o.metrics.syncRuns.inc({ open_kfid: openKfid, outcome: 'busy' });
      this.scheduleBusyRetry();
      return;
    }
    this.kick();
  }

  /** Same as notify but never rejects: for the timer and for retries. */
  private async request(callbackToken: string | null): Promise<void> {
    try {
      await this.notify(callbackToken);
    } catch (err) {
      this.o.logger.warn({ err }, 'could not mark a pull as pending; will retry');
      this.scheduleRetry();
    }
  }

  /** Runs a pull now unless one is running here, in which case that run goes round once more. */
  private kick(): void {
    if (this.closed) return;
    if (this.running) {
      this.rerun = true;
      return;
    }
    this.running = this.runUntilIdle().finally(() => {
      this.running = null;
    });
  }

  /** Resolves when no pull runs here (for tests and shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Stops timers and waits for a run in progress. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.busyTimer) clearTimeout(this.busyTimer);
    this.wakeStuckWait?.();
    await this.idle();
  }

  /** Runs leases until no pull is pending; the first is `acquiring` when a note already tried for it. */
  private async runUntilIdle(acquiring?: Promise<SyncLease | null>): Promise<void> {
    do {
      this.rerun = false;
      const again = await this.runOnce(acquiring);
      acquiring = undefined;
      // Another node's callback may have set the mark after our last check but before our release.
      if (again && !this.closed) this.rerun = true;
    } while (this.rerun && !this.closed);
  }

  /**
   * One lease (the one `acquiring` brings, else tried for here): pulls while the pending mark keeps being set. Resolves
   * true when a pull was pending as the lease went.
   */
  private async runOnce(acquiring?: Promise<SyncLease | null>): Promise<boolean> {
    const { coordinator, openKfid, logger, metrics, spread } = this.o;
    let lease: SyncLease | null;
    if (acquiring) {
      try {
        lease = await acquiring;
      } catch {
        // notify rejects with the same error and its caller logs it (the mark may not be stored: a webhook answers so
        // and WeCom sends the callback again); the pull is retried here as after a failed tryAcquire.
        metrics.syncRuns.inc({ open_kfid: openKfid, outcome: 'error' });
        this.scheduleRetry();
        return false;
      }
    } else {
      const yieldMs = spread?.delayFor(openKfid) ?? 0;
      if (yieldMs > 0) {
        // Give a node pulling fewer accounts the first try; it takes the mark if it gets the lease.
        await this.pause(yieldMs);
        if (this.closed) return false;
      }
      try {
        lease = await coordinator.tryAcquire(openKfid, this.o.leaseMs);
      } catch (err) {
        logger.warn({ err }, 'sync lease unavailable; will retry');
        metrics.syncRuns.inc({ open_kfid: openKfid, outcome: 'error' });
        this.scheduleRetry();
        return false;
      }
    }
    if (!lease) {
      // Another holder is pulling and will see our pending mark. Should it die instead, its lease runs out:
      // look again then, so the mark is not left waiting for the next callback or poll.
      metrics.syncRuns.inc({ open_kfid: openKfid, outcome: 'busy' });
      this.scheduleBusyRetry();
      return false;
    }
    const stop = metrics.syncDuration.startTimer();
    spread?.acquired(openKfid);
    metrics.syncLeaseHeld.set({ open_kfid: openKfid }, 1);
    let outcome: 'ok' | 'error' | 'stale' = 'ok';
    let pendingAfter = false;
    // How the lease went, once a take let it go (null while it is held).
    let next: NextPull | null = null;
    const held = lease;
    const renewal = setInterval(() => {
      held.renew(this.o.leaseMs).catch((err: unknown) => logger.warn({ err }, 'sync lease renewal failed'));
    }, Math.max(50, Math.floor(this.o.leaseMs / 3)));
    renewal.unref();
    // Set while the take (or the release it makes) is asked for: a failure then is not the pull's.
    let taking = false;
    let gathered = this.o.coalesceMs <= 0;
    try {
      while (!this.closed) {
        taking = true;
        next = await lease.takePendingOrRelease();
        taking = false;
        if (next !== 'pull') break;
        next = null;
        if (!gathered) {
          gathered = true;
          // close() cuts the wait short; the mark is taken, so the pull runs either way.
          await this.pause(this.o.coalesceMs);
          taking = true;
          const held = await lease.takeGathered();
          taking = false;
          if (!held) {
            outcome = 'stale';
            // The new holder must pull for the mark this one took.
            await this.putMarkBack();
            break;
          }
        }
        const result = await this.pullAll(lease);
        if (result === 'done') metrics.syncLastSuccess.set({ open_kfid: openKfid }, this.o.now() / 1000);
        if (result === 'stale') {
          outcome = 'stale';
          // The pull stopped part-way: whoever holds the lease now must continue it.
          await this.putMarkBack();
          break;
        }
      }
      this.failures = 0;
    } catch (err) {
      outcome = 'error';
      if (taking) {
        // Whether the mark was taken, or the lease let go, is not known: the mark is put back and the lease let go below.
        logger.warn({ err, fence: lease.fence }, 'could not take the pending mark or let the sync lease go; the pull is retried');
      } else {
        logger.warn({ err, fence: lease.fence }, 'pull failed; the cursor stays where it was and the pull is retried');
      }
      // Put the mark back so the retry (here or on any node) pulls again.
      await this.putMarkBack();
      this.scheduleRetry();
    } finally {
      clearInterval(renewal);
      stop();
      metrics.syncRuns.inc({ open_kfid: openKfid, outcome });
      metrics.syncLeaseHeld.set({ open_kfid: openKfid }, 0);
      spread?.released(openKfid);
      if (next !== null) pendingAfter = next === 'again';
      else {
        pendingAfter = await lease.release().catch((err: unknown) => {
          logger.warn({ err }, 'could not release the sync lease');
          return false;
        });
      }
    }
    // A callback noted after the last take found the lease held: its pull is this node's to run.
    return outcome === 'ok' && pendingAfter;
  }

  /**
   * Pulls pages until has_more is 0. The next page is asked for as soon as this one names its cursor, while this one is
   * still being routed, so WeCom's answer time overlaps the relay's work; it is used only once this page is routed and
   * its cursor committed (else it is dropped, and pulled again from the committed cursor next time).
   */
  private async pullAll(lease: SyncLease): Promise<'done' | 'stale'> {
    const { openKfid, metrics, logger } = this.o;
    let cursor = (await lease.cursor()) ?? undefined;
    const firstPull = cursor === undefined;
    const tokenRef = { token: await this.freshToken(lease) };
    let ahead: Promise<SyncMsgResponse> | null = null;
    for (;;) {
      const fetching = ahead ?? this.fetchPage(cursor, tokenRef);
      ahead = null;
      const page = await fetching;
      metrics.syncPages.inc({ open_kfid: openKfid });
      metrics.syncMessages.inc({ open_kfid: openKfid }, page.msg_list?.length ?? 0);
      const previousCursor = cursor;
      const moved = Boolean(page.next_cursor) && page.next_cursor !== previousCursor;
      if (Number(page.has_more) === 1 && moved) {
        ahead = this.fetchPage(page.next_cursor, tokenRef);
        // Awaited only if this page is handed on and committed; a failure then is the next page's to report.
        ahead.catch(() => undefined);
      }
      const context = { firstPull, openKfid: this.o.openKfid };
      if (this.o.pageSink) await this.o.pageSink(page.msg_list ?? [], context);
      else await dispatchPage(page.msg_list ?? [], (message) => this.o.sink(message, context), this.o.pageConcurrency ?? 32);
      if (moved) {
        // The commit extends the lease too: the next page needs no renewal of its own.
        if (!(await lease.commitCursor(page.next_cursor!, this.o.leaseMs))) {
          logger.warn({ fence: lease.fence }, 'sync lease lost mid-pull; another node continues from its cursor');
          return 'stale';
        }
        cursor = page.next_cursor;
      }
      // has_more can be 1 with an empty msg_list: keep going on has_more alone.
      if (Number(page.has_more) !== 1 || moved) {
        if (this.stuckPages > 0) logger.info({ pages: this.stuckPages }, 'sync cursor moves again');
        this.stuckPages = 0;
      }
      if (Number(page.has_more) !== 1) return 'done';
      if (!moved) {
        // "More" without a new cursor would ask for the same page again at once, forever: wait instead.
        this.stuckPages += 1;
        metrics.syncCursorStuck.inc({ open_kfid: openKfid });
        if (this.stuckPages === 1) logger.warn({ cursor: cursor ?? null }, 'WeCom says has_more but the cursor does not move; backing off');
        await this.stuckWait(this.stuckPages);
        if (this.closed) return 'done';
        if (!(await lease.renew(this.o.leaseMs))) return 'stale';
      }
    }
  }

  /** One kf/sync_msg page after `cursor`; drops a refused callback token (for this and later pages) and asks again. */
  private async fetchPage(cursor: string | undefined, tokenRef: { token: string | undefined }): Promise<SyncMsgResponse> {
    // voice_format is sent only when SILK is asked for, so a default node pulls exactly as it always did.
    const voice = this.o.voiceFormat === 1 ? { voiceFormat: 1 as const } : {};
    for (;;) {
      const token = tokenRef.token;
      try {
        return await this.o.source.syncMsg({ openKfid: this.o.openKfid, cursor, token, limit: 1000, ...voice });
      } catch (err) {
        if (token && (err as { errcode?: unknown }).errcode === CALLBACK_TOKEN_INVALID) {
          // The callback token expired or was refused: pull without it (stricter rate limit, same data).
          if (tokenRef.token === token) this.o.logger.info({}, 'callback token refused by WeCom; pulling without it');
          tokenRef.token = undefined;
          continue;
        }
        throw err;
      }
    }
  }

  /** Bounded, jittered exponential wait (between half and all of the step), cut short by close(). */
  private stuckWait(round: number): Promise<void> {
    const step = Math.min(this.o.stuckMaxDelayMs, this.o.stuckDelayMs * 2 ** (round - 1));
    const ms = step / 2 + (step / 2) * this.o.random();
    if (this.o.sleep) return this.o.sleep(ms);
    return this.pause(ms);
  }

  /**
   * Sets the pending mark again for a pull this holder took but did not finish, so the next holder (here or on any node)
   * runs it. A failure is ignored: the next callback, or the poll every pollIntervalMs, pulls then.
   */
  private async putMarkBack(): Promise<void> {
    await this.o.coordinator.notePending(this.o.openKfid, null).catch(() => undefined);
  }

  /** A timer close() cuts short. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wakeStuckWait = () => {
        this.wakeStuckWait = null;
        done();
      };
    });
  }

  private async freshToken(lease: SyncLease): Promise<string | undefined> {
    const t = await lease.callbackToken();
    if (!t) return undefined;
    return this.o.now() - t.receivedAt < this.o.tokenMaxAgeMs ? t.value : undefined;
  }

  private scheduleBusyRetry(): void {
    if (this.closed || this.busyTimer) return;
    this.busyTimer = setTimeout(() => {
      this.busyTimer = null;
      this.kick();
    }, this.o.leaseMs);
    this.busyTimer.unref();
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer) return;
    const delay = Math.min(30_000, this.o.retryDelayMs * 2 ** Math.min(this.failures, 5));
    this.failures++;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.kick();
    }, delay);
    this.retryTimer.unref();
  }
}

/**
 * Hands on one page: each user's messages strictly in order, different users side by side, so one slow
 * user (or one Redis round trip per step) does not serialize the whole page. Rejects if any message failed;
 * the page is then pulled again and the steps already done are recognised as done.
 */
async function dispatchPage(messages: KfMessage[], handle: (m: KfMessage) => Promise<void>, concurrency: number): Promise<void> {
  const byUser = new Map<string, KfMessage[]>();
  for (const m of messages) {
    const event = m.event as { external_userid?: unknown } | undefined;
    const user = m.external_userid ?? (typeof event?.external_userid === 'string' ? event.external_userid : `msg:${m.msgid}`);
    const list = byUser.get(user);
    if (list) list.push(m);
    else byUser.set(user, [m]);
  }
  const queues = [...byUser.values()];
  let next = 0;
  let failure: unknown = null;
  const worker = async () => {
    while (next < queues.length && failure === null) {
      const queue = queues[next++]!;
      try {
        for (const m of queue) await handle(m);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, queues.length) }, worker));
  if (failure !== null) throw failure;
}


import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { WecomCrypto } from '@wecom-relay/shared';
import { AccessTokenRegistry } from './access-tokens.js';
import { ApiStats } from './api-stats.js';
import { ContactWays } from './contact-ways.js';
import { ControlError } from './control-error.js';
import { CustomerProfiles } from './customer-profiles.js';
import { CallbackDelivery } from './callback-delivery.js';
import { CallbackTokens } from './callback-tokens.js';
import { FakeClock } from './clock.js';
import { FaultQueue } from './fault-queue.js';
import { EventCodes, KfSessions } from './kf-sessions.js';
import { MediaStore } from './media-store.js';
import { KfMessageLog } from './message-log.js';
import type { ResolvedFakeWecomOptions } from './options.js';
import { RateLimiter } from './rate-limiter.js';
import { SentLog } from './sent-log.js';

/** Everything one fake WeCom knows; the API handlers and the control surface both work on it. */
export interface FakeState {
  readonly opts: ResolvedFakeWecomOptions;
  readonly logger: Logger;
  readonly clock: FakeClock;
  readonly crypto: WecomCrypto;
  readonly accessTokens: AccessTokenRegistry;
  readonly callbackTokens: CallbackTokens;
  readonly log: KfMessageLog;
  readonly sessions: KfSessions;
  readonly eventCodes: EventCodes;
  readonly media: MediaStore;
  readonly faults: FaultQueue;
  readonly rateLimiter: RateLimiter;
  readonly stats: ApiStats;
  readonly sent: SentLog;
  readonly callbacks: CallbackDelivery;
  /** Customer profiles kf/customer/batchget serves. */
  readonly profiles: CustomerProfiles;
  /** Every link kf/add_contact_way issued, and the check a scan applies to it. */
  readonly contactWays: ContactWays;
  /** The kfc… id in the first kf account's contact-way URLs. */
  readonly kfcId: string;
  /** Whether this open_kfid is one of the kf accounts the fake serves. */
  serves(openKfid: string | undefined): boolean;
  /** The kf account a control call names (`open_kfid`), the first one when it names none; refuses an unknown one. */
  account(openKfid: unknown): string;
  /** Where callbacks go; tests may change it after relays start. */
  callbackUrls: string[];
  /** media/get of a larger file without Range answers 830002; tests may change it. */
  largeMediaThresholdBytes: number;
}

/** Builds the state of a fresh fake. */
export function createFakeState(opts: ResolvedFakeWecomOptions, logger: Logger): FakeState {
  const clock = new FakeClock(opts.now);
  const crypto = new WecomCrypto({ token: opts.callbackToken, encodingAesKey: opts.encodingAesKey, receiveId: opts.corpId });
  const stats = new ApiStats();
  const callbackTokens = new CallbackTokens(clock);
  const keyOf = (kf: string) => createHash('sha256').update(`${opts.corpId}\n${opts.corpSecret}\n${kf}`).digest('hex');
  const accountKey = keyOf(opts.openKfid);
  const kfcId = `kfc${accountKey.slice(0, 16)}`;
  const served = new Set(opts.openKfids);
  return {
    opts,
    logger,
    clock,
    crypto,
    accessTokens: new AccessTokenRegistry(clock, opts.accessTokenTtlSeconds),
    callbackTokens,
    log: new KfMessageLog(clock, accountKey, opts.openKfid),
    sessions: new KfSessions(clock, opts.openKfid),
    eventCodes: new EventCodes(clock),
    media: new MediaStore(clock),
    faults: new FaultQueue(),
    rateLimiter: new RateLimiter(clock, opts.rateLimitPerMinute),
    stats,
    sent: new SentLog(),
    callbacks: new CallbackDelivery({
      crypto,
      corpId: opts.corpId,
      openKfid: opts.openKfid,
      clock,
      tokens: callbackTokens,
      logger,
      fetch: opts.fetch,
      retries: opts.callbackRetries,
      onAttempt: (ok) => stats.callback(ok),
    }),
    contactWays: new ContactWays((kf) => `kfc${keyOf(kf).slice(0, 16)}`),
    profiles: new CustomerProfiles(),
    kfcId,
    serves: (kf) => kf !== undefined && served.has(kf),
    account: (kf) => {
      if (kf === undefined || kf === null || kf === '') return opts.openKfid;
      if (typeof kf !== 'string' || !served.has(kf)) throw new ControlError('CONTROL_BAD_REQUEST', `open_kfid ${String(kf)} is not served by this fake`);
      return kf;
    },
    callbackUrls: [...opts.callbackUrls],
    largeMediaThresholdBytes: opts.largeMediaThresholdBytes,
  };
}

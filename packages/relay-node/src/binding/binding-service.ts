import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { BindingStore } from '../state/binding-store.js';
import type { PendingBindingStore, TokenIssueLimits } from '../state/pending-binding-store.js';
import type { OutboundLedger } from '../state/outbound-ledger.js';
import type { DedupStore } from '../state/dedup-store.js';
import type { DeliveryService } from '../delivery/delivery-service.js';
import type { RelayMetrics } from '../observability/metrics.js';
import { RelayError } from '../errors/relay-error.js';
import { bindingConfirmationText } from './confirmation-text.js';
import { ContactLinkCache } from './contact-link.js';
import { Semaphore } from '../util/semaphore.js';

/** Pending binding tokens expire after 10 minutes, as deployed. */
export const BINDING_TOKEN_TTL_MS = 10 * 60_000;
/** 4 random bytes as 8 hex characters, as deployed gateways expect. */
export const SHORT_TOKEN_BYTES = 4;
/** 16 random bytes (32 hex characters) for gateways that ask (hello feature `long_binding_token`). */
export const LONG_TOKEN_BYTES = 16;
/** A typed token is either length, in any case. */
const TYPED_TOKEN = /^(?:[0-9a-f]{8}|[0-9a-f]{32})$/;
/** Whether a customer's text has the shape of a binding token (either length, any case, surrounding spaces). */
export function looksLikeBindingToken(text: string): boolean {
  return TYPED_TOKEN.test(text.trim().toLowerCase());
}
/** A new token that happens to equal a live one is drawn again, this many times at most. */
const ISSUE_ATTEMPTS = 5;
/** WeCom returns scene_param only for links created with a non-empty scene. */
const BINDING_SCENE = 'relay_bind';
/** A scan or typed token is in WeCom's 3-day window at most; remember confirmations a little longer. */
const CONFIRM_DEDUP_TTL_MS = 4 * 24 * 3600 * 1000;
/** How long the event that used a token is remembered: the same re-pull horizon. */
const TOKEN_USE_TTL_MS = CONFIRM_DEDUP_TTL_MS;
/** kf/service_state/trans state that ends a session. */
const SESSION_ENDED = 4;
/** kf/service_state/trans calls in flight at once per unbind_all: a gateway with many users cannot burst WeCom. */
export const UNBIND_CONCURRENCY = 4;

/** The WeCom calls the binding flow makes. */
export interface BindingWecom {
  addContactWay(req: { openKfid: string; scene: string }): Promise<string>;
  sendText(req: { openKfid: string; toUser: string; content: string }): Promise<{ msgid: string }>;
  sendTextOnEvent(req: { code: string; content: string }): Promise<{ msgid: string }>;
  transServiceState(req: { openKfid: string; externalUserId: string; serviceState: number }): Promise<unknown>;
}

/** Limits on create_binding and on typed-token guesses (README: BINDING_*). */
export interface BindingLimits {
  /** create_binding again within this long gets the same token while it is unused. */
  reuseWithinMs: number;
  /** Live tokens per gateway; more are refused (TOO_MANY_BINDING_TOKENS) until one is used or expires. */
  maxLiveTokens: number;
  /** Tokens (new or reused) per gateway per minute; more are refused (RATE_LIMITED). */
  createPerMinute: number;
  /** Typed tokens that named none, per customer and window, after which typed tokens are not tried. */
  guessLimit: number;
  guessWindowMs: number;
}

/** Defaults of {@link BindingLimits}, as the README's configuration table lists them. */
export const DEFAULT_BINDING_LIMITS: BindingLimits = {
  reuseWithinMs: 10_000,
  maxLiveTokens: 100,
  createPerMinute: 30,
  guessLimit: 5,
  guessWindowMs: 10 * 60_000,
};

/** Where a binding event came from, for idempotency and ordering. */
export interface BindingEventRef {
  /** The WeCom msgid that carried the scan or the typed token. */
  eventId: string;
  /** Its WeCom send_time, unix seconds: binding changes apply in this order (see BindingStore.bindInOrder). */
  at: number;
  /** The kf account the event came in on (absent: the first configured); the user is answered from it. */
  openKfid?: string | undefined;
}

/** Options for {@link BindingService}. */
export interface BindingServiceOptions {
  bindings: BindingStore;
  pending: PendingBindingStore;
  /** Counts the confirmation against the user's 5-message window. */
  ledger: OutboundLedger;
  /** Makes sure a binding event pulled twice confirms to the user once. */
  dedup: DedupStore;
  wecom: BindingWecom;
  delivery: Pick<DeliveryService, 'enqueue'>;
  /** The first configured kf account: links by default, and the account of bindings that record none. */
  openKfid: string;
  /** Every configured kf account (default just `openKfid`): create_binding may name any of them. */
  openKfids?: readonly string[];
  locale: 'zh' | 'en';
  logger: Logger;
  metrics: Pick<RelayMetrics, 'bindingTokens' | 'bindingAttempts'>;
  /** Default {@link DEFAULT_BINDING_LIMITS}. */
  limits?: BindingLimits;
  /** Random token source (hex of n random bytes); tests replace it to force collisions. */
  randomToken?: (bytes: number) => string;
}

/** QR binding: issue tokens, bind users who scan or type them, unbind a gateway's users. */
export class BindingService {
  private readonly links: ContactLinkCache;
  private readonly limits: BindingLimits;
  private readonly randomToken: (bytes: number) => string;

  constructor(private readonly o: BindingServiceOptions) {
    this.links = new ContactLinkCache({ source: o.wecom, scene: BINDING_SCENE });
    this.limits = o.limits ?? DEFAULT_BINDING_LIMITS;
    this.randomToken = o.randomToken ?? ((bytes) => randomBytes(bytes).toString('hex'));
  }

  /**
   * Issues a pending token for a gateway and the URL a WeCom user scans to bind to it, within the gateway's
   * limits: asked again soon, it reuses the gateway's newest unused token; beyond the rate or the live-token cap
   * it refuses with RATE_LIMITED / TOO_MANY_BINDING_TOKENS. A new token never replaces a live one (of any gateway).
   */
  async createBinding(
    gatewayId: string,
    options: { long?: boolean; openKfid?: string | undefined } = {},
  ): Promise<{ token: string; customerServiceUrl: string }> {
    const openKfid = options.openKfid ?? this.o.openKfid;
    // Checked before a token is spent: a link of an account the relay does not pull could never bind.
    if (!(this.o.openKfids ?? [this.o.openKfid]).includes(openKfid)) {
      throw new RelayError('KF_ACCOUNT_UNKNOWN', undefined, { gatewayId });
    }
    const token = await this.issueToken(gatewayId, options.long ? LONG_TOKEN_BYTES : SHORT_TOKEN_BYTES);
    const base = await this.baseUrl(openKfid);
    const sep = base.includes('?') ? '&' : '?';
    return { token, customerServiceUrl: `${base}${sep}scene_param=${encodeURIComponent(token)}` };
  }

  /**
   * Binds a user who typed a token as a message; false when the text is not a token that binds (then it is a
   * normal message). A customer whose typed tokens missed `guessLimit` times in the window is not tried again
   * until the window passes, except that a message which already bound (a re-pull) binds again the same way.
   */
  async bindByTypedToken(externalUserId: string, text: string, event: BindingEventRef): Promise<boolean> {
    const token = text.trim().toLowerCase();
    if (!TYPED_TOKEN.test(token)) return false;
    const { pending, metrics, logger } = this.o;
    let gatewayId: string | null;
    if ((await pending.guessMisses(externalUserId)) >= this.limits.guessLimit) {
      gatewayId = await pending.consumedBy(event.eventId);
      if (gatewayId === null) {
        metrics.bindingAttempts.inc({ via: 'typed', outcome: 'guess_limited' });
        logger.warn({ externalUserId, msgid: event.eventId }, 'typed binding token not tried: too many misses from this customer');
        return false;
      }
    } else {
      gatewayId = await pending.consume(token, event.eventId, TOKEN_USE_TTL_MS);
      if (gatewayId === null) {
        const misses = await pending.noteGuessMiss(externalUserId, this.limits.guessWindowMs);
        metrics.bindingAttempts.inc({ via: 'typed', outcome: 'unknown_token' });
        logger.warn({ externalUserId, msgid: event.eventId, misses }, 'typed binding token names no live token');
        return false;
      }
    }
    await this.applyBinding(externalUserId, gatewayId, 'typed', event);
    return true;
  }

  /**
   * Binds (or moves) a user to the gateway a token was issued to, confirms to the user (through the welcome
   * code when WeCom gave one), and tells the gateway wherever it is connected. False when the token is unknown,
   * expired or used by another event: each token binds one event. Idempotent per `eventId`.
   */
  async bindByToken(
    externalUserId: string,
    token: string,
    via: BindingEventRef & { welcomeCode?: string | undefined },
  ): Promise<boolean> {
    const gatewayId = await this.o.pending.consume(token, via.eventId, TOKEN_USE_TTL_MS);
    if (!gatewayId) {
      this.o.metrics.bindingAttempts.inc({ via: 'scan', outcome: 'unknown_token' });
      return false;
    }
    await this.applyBinding(externalUserId, gatewayId, 'scan', via);
    return true;
  }

  private async applyBinding(
    externalUserId: string,
    gatewayId: string,
    kind: 'scan' | 'typed',
    via: BindingEventRef & { welcomeCode?: string | undefined },
  ): Promise<void> {
    const openKfid = via.openKfid ?? this.o.openKfid;
    const { outcome, previous } = await this.o.bindings.bindInOrder(externalUserId, gatewayId, { at: via.at, eventId: via.eventId, openKfid });
    this.o.metrics.bindingAttempts.inc({ via: kind, outcome });
    if (outcome === 'stale') {
      // A newer binding event of this user was applied already (e.g. by the puller that took over this page).
      this.o.logger.info({ externalUserId, gatewayId, current: previous, msgid: via.eventId }, 'older binding event not applied');
      return;
    }
    if (outcome === 'bound') this.o.logger.info({ externalUserId, gatewayId, previous, openKfid }, 'user bound');
    await this.o.delivery.enqueue(gatewayId, { type: 'binding_resolved', externalUserId, gatewayId }, { dedupKey: via.eventId });
    if (await this.o.dedup.claim(`confirm:${via.eventId}`, CONFIRM_DEDUP_TTL_MS)) await this.confirm(externalUserId, openKfid, via.welcomeCode);
  }

  private async issueToken(gatewayId: string, bytes: number): Promise<string> {
    const { pending, metrics, logger } = this.o;
    const limits: TokenIssueLimits = {
      reuseWithinMs: this.limits.reuseWithinMs,
      maxLive: this.limits.maxLiveTokens,
      ratePerWindow: this.limits.createPerMinute,
      rateWindowMs: 60_000,
    };
    for (let attempt = 0; attempt < ISSUE_ATTEMPTS; attempt++) {
      const result = await pending.issue(this.randomToken(bytes), gatewayId, BINDING_TOKEN_TTL_MS, limits);
      metrics.bindingTokens.inc({ outcome: result.outcome });
      switch (result.outcome) {
        case 'created':
        case 'reused':
          return result.token;
        case 'collision':
          continue;
        case 'rate_limited':
          // debug: a flooding gateway must not flood the log too; relay_binding_tokens_total counts every refusal.
          logger.debug({ gatewayId }, 'create_binding refused: rate limit');
          throw new RelayError('RATE_LIMITED', undefined, { gatewayId });
        case 'too_many':
          logger.debug({ gatewayId, maxLiveTokens: limits.maxLive }, 'create_binding refused: too many live binding tokens');
          throw new RelayError('TOO_MANY_BINDING_TOKENS', undefined, { gatewayId });
      }
    }
    throw new RelayError('INTERNAL', 'no free binding token could be drawn', { gatewayId, attempts: ISSUE_ATTEMPTS });
  }

  /** Removes every binding of a gateway and ends those users' WeCom sessions; resolves to the users unbound. */
  async unbindAll(gatewayId: string): Promise<string[]> {
    // Each session is ended on the account the user is bound through, which the store forgets with the binding.
    const accounts = new Map<string, string>();
    if ((this.o.openKfids?.length ?? 1) > 1) {
      const before = await this.o.bindings.usersOf(gatewayId);
      const found = await Promise.all(before.map((user) => this.o.bindings.accountOf(user)));
      before.forEach((user, i) => accounts.set(user, found[i] ?? this.o.openKfid));
    }
    const users = await this.o.bindings.unbindAll(gatewayId);
    const calls = new Semaphore(UNBIND_CONCURRENCY);
    await Promise.all(
      users.map((externalUserId) =>
        calls
          .run(() =>
            this.o.wecom.transServiceState({ openKfid: accounts.get(externalUserId) ?? this.o.openKfid, externalUserId, serviceState: SESSION_ENDED }),
          )
          .catch((err: unknown) =>
            // The binding is gone either way; a session WeCom already ended answers with an error.
            this.o.logger.warn({ err, externalUserId, gatewayId }, 'could not end the WeCom session of an unbound user'),
          ),
      ),
    );
    this.o.logger.info({ gatewayId, count: users.length }, 'gateway unbound from all users');
    return users;
  }

  private async confirm(externalUserId: string, openKfid: string, welcomeCode: string | undefined): Promise<void> {
    const content = bindingConfirmationText(this.o.locale);
    try {
      if (welcomeCode) {
        try {
          await this.o.wecom.sendTextOnEvent({ code: welcomeCode, content });
          return;
        } catch (err) {
          // A welcome code lives 20 s and works once; fall back to an ordinary message.
          this.o.logger.info({ err, externalUserId }, 'welcome code refused; confirming with send_msg');
        }
      }
      const { msgid } = await this.o.wecom.sendText({ openKfid, toUser: externalUserId, content });
      await this.o.ledger.recordSend(openKfid, externalUserId, msgid, null, 0);
    } catch (err) {
      // The binding stands even if WeCom refuses the confirmation (e.g. outside the 48 h window).
      this.o.logger.warn({ err, externalUserId }, 'binding confirmation could not be sent');
    }
  }

  /** Always a link kf/add_contact_way returned: WeCom drops scene_param on any other (reference §3.3). */
  private baseUrl(openKfid: string): Promise<string> {
    return this.links.get(openKfid);
  }
}

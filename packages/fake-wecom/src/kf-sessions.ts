import type { FakeClock } from './clock.js';
import type { SessionInfo } from './control-types.js';
import { ERRCODE } from './errcodes.js';

/** Sending is allowed within 48 h of the customer's last message, at most 5 messages (reference §3.1). */
const SEND_WINDOW_MS = 48 * 3600 * 1000;
const SEND_WINDOW_COUNT = 5;

interface Session {
  openKfid: string;
  externalUserid: string;
  serviceState: number;
  servicerUserid?: string;
  lastCustomerAt: number | null;
  sentSinceCustomer: number;
}

/**
 * Per-customer session state and the send window that send_msg enforces, per kf account: a customer who wrote to
 * one account has no session (and no send window) with another (reference §3.1, the window is per
 * open_kfid and external_userid).
 */
export class KfSessions {
  readonly #sessions = new Map<string, Session>();

  /** defaultKfid: the account meant when a caller names none. */
  constructor(
    private readonly clock: FakeClock,
    private readonly defaultKfid: string,
  ) {}

  #key(externalUserid: string, openKfid: string): string {
    return `${openKfid}\n${externalUserid}`;
  }

  #get(externalUserid: string, openKfid: string): Session | undefined {
    return this.#sessions.get(this.#key(externalUserid, openKfid));
  }

  /**
   * The customer acted: the window and count reset and an ended session starts afresh. A scan (enter_session)
   * counts too: UNCONFIRMED whether WeCom opens the window on enter_session alone; the tolerant choice is made so a
   * relay may confirm a binding with send_msg.
   */
  customerActivity(externalUserid: string, openKfid = this.defaultKfid): void {
    const s = this.#get(externalUserid, openKfid);
    if (!s) {
      this.#sessions.set(this.#key(externalUserid, openKfid), {
        openKfid,
        externalUserid,
        serviceState: 0,
        lastCustomerAt: this.clock.now(),
        sentSinceCustomer: 0,
      });
      return;
    }
    s.lastCustomerAt = this.clock.now();
    s.sentSinceCustomer = 0;
    if (s.serviceState === 4) {
      s.serviceState = 0;
      delete s.servicerUserid;
    }
  }

  /** 0 if send_msg to this customer may go out now, else the errcode WeCom answers. */
  checkSend(externalUserid: string, openKfid = this.defaultKfid): number {
    const s = this.#get(externalUserid, openKfid);
    if (!s || s.lastCustomerAt === null || this.clock.now() - s.lastCustomerAt > SEND_WINDOW_MS) {
      return ERRCODE.SEND_TIME_LIMIT;
    }
    if (s.sentSinceCustomer >= SEND_WINDOW_COUNT) return ERRCODE.SEND_COUNT_LIMIT;
    if (s.serviceState !== 0 && s.serviceState !== 1) return ERRCODE.SESSION_STATE_FORBIDS_SEND;
    return ERRCODE.OK;
  }

  /** Counts one accepted send_msg against the window. */
  noteSent(externalUserid: string, openKfid = this.defaultKfid): void {
    const s = this.#get(externalUserid, openKfid);
    if (s) s.sentSinceCustomer++;
  }

  /** kf/service_state/trans; 0 or the errcode. */
  trans(externalUserid: string, serviceState: number, servicerUserid: string | undefined, openKfid = this.defaultKfid): number {
    const s = this.#get(externalUserid, openKfid);
    if (!s) return ERRCODE.INVALID_SERVICE_STATE_TRANSITION;
    s.serviceState = serviceState;
    if (serviceState === 3 && servicerUserid) s.servicerUserid = servicerUserid;
    else delete s.servicerUserid;
    return ERRCODE.OK;
  }

  /** Every session, for inspection. */
  all(): SessionInfo[] {
    return [...this.#sessions.values()].map((s) => ({
      external_userid: s.externalUserid,
      open_kfid: s.openKfid,
      service_state: s.serviceState,
      ...(s.servicerUserid ? { servicer_userid: s.servicerUserid } : {}),
      last_customer_at: s.lastCustomerAt === null ? null : Math.floor(s.lastCustomerAt / 1000),
      sent_since_customer: s.sentSinceCustomer,
    }));
  }

  /** Forgets every session. */
  reset(): void {
    this.#sessions.clear();
  }
}

/** Codes for kf/send_msg_on_event: single use, each with its own lifetime. */
export class EventCodes {
  readonly #codes = new Map<string, { externalUserid: string; openKfid: string | undefined; expiresAt: number }>();

  constructor(private readonly clock: FakeClock) {}

  /** Registers a code that may be redeemed once within ttlMs. */
  register(code: string, externalUserid: string, ttlMs: number, openKfid?: string): void {
    this.#codes.set(code, { externalUserid, openKfid, expiresAt: this.clock.now() + ttlMs });
  }

  /** Uses the code up; the customer (and kf account) it belongs to, or null if unknown, used or expired. */
  redeem(code: string): { externalUserid: string; openKfid: string | undefined } | null {
    const entry = this.#codes.get(code);
    if (!entry) return null;
    this.#codes.delete(code);
    return entry.expiresAt > this.clock.now() ? { externalUserid: entry.externalUserid, openKfid: entry.openKfid } : null;
  }

  /** Forgets every code. */
  reset(): void {
    this.#codes.clear();
  }
}

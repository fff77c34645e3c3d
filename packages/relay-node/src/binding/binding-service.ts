import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { BindingStore } from '../state/binding-store.js';
import type { PendingBindingStore } from '../state/pending-binding-store.js';
import type { OutboundLedger } from '../state/outbound-ledger.js';
import type { DedupStore } from '../state/dedup-store.js';
import type { DeliveryService } from '../delivery/delivery-service.js';
import { bindingConfirmationText } from './confirmation-text.js';
import { ContactLinkCache } from './contact-link.js';
import { Semaphore } from '../util/semaphore.js';

/** Pending binding tokens expire after 10 minutes, as deployed. */
export const BINDING_TOKEN_TTL_MS = 10 * 60_000;
/** 4 random bytes as 8 hex characters, as deployed gateways expect. */
const TOKEN_PATTERN = /^[0-9a-f]{8}$/;
/** WeCom returns scene_param only for links created with a non-empty scene. */
const BINDING_SCENE = 'relay_bind';
/** A scan or typed token is in WeCom's 3-day window at most; remember confirmations a little longer. */
const CONFIRM_DEDUP_TTL_MS = 4 * 24 * 3600 * 1000;
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
  openKfid: string;
  locale: 'zh' | 'en';
  logger: Logger;
}

/** QR binding: issue tokens, bind users who scan or type them, unbind a gateway's users. */
export class BindingService {
  private readonly links: ContactLinkCache;

  constructor(private readonly o: BindingServiceOptions) {
    this.links = new ContactLinkCache({ source: o.wecom, scene: BINDING_SCENE });
  }

  /** Issues a pending token for a gateway and the URL a WeCom user scans to bind to it. */
  async createBinding(gatewayId: string): Promise<{ token: string; customerServiceUrl: string }> {
    const token = randomBytes(4).toString('hex');
    await this.o.pending.put(token, gatewayId, BINDING_TOKEN_TTL_MS);
    const base = await this.baseUrl();
    const sep = base.includes('?') ? '&' : '?';
    return { token, customerServiceUrl: `${base}${sep}scene_param=${encodeURIComponent(token)}` };
  }

  /** Binds a user who typed a token as a message; false when the text is not a live token (then it is a normal message). */
  async bindByTypedToken(externalUserId: string, text: string, eventId: string): Promise<boolean> {
    const token = text.trim().toLowerCase();
    if (!TOKEN_PATTERN.test(token)) return false;
    return this.bindByToken(externalUserId, token, { eventId });
  }

  /**
   * Binds (or moves) a user to the gateway a token was issued to, confirms to the user (through the welcome
   * code when WeCom gave one), and tells the gateway wherever it is connected. False when the token is unknown.
   * Idempotent per `eventId` (the WeCom msgid that carried the scan or the typed token).
   */
  async bindByToken(
    externalUserId: string,
    token: string,
    via: { welcomeCode?: string | undefined; eventId: string },
  ): Promise<boolean> {
    const gatewayId = await this.o.pending.lookup(token);
    if (!gatewayId) return false;
    const previous = await this.o.bindings.bind(externalUserId, gatewayId);
    this.o.logger.info({ externalUserId, gatewayId, previous }, 'user bound');
    await this.o.delivery.enqueue(gatewayId, { type: 'binding_resolved', externalUserId, gatewayId }, { dedupKey: via.eventId });
    if (await this.o.dedup.claim(`confirm:${via.eventId}`, CONFIRM_DEDUP_TTL_MS)) await this.confirm(externalUserId, via.welcomeCode);
    return true;
  }

  /** Removes every binding of a gateway and ends those users' WeCom sessions; resolves to the users unbound. */
  async unbindAll(gatewayId: string): Promise<string[]> {
    const users = await this.o.bindings.unbindAll(gatewayId);
    const calls = new Semaphore(UNBIND_CONCURRENCY);
    await Promise.all(
      users.map((externalUserId) =>
        calls
          .run(() => this.o.wecom.transServiceState({ openKfid: this.o.openKfid, externalUserId, serviceState: SESSION_ENDED }))
          .catch((err: unknown) =>
            // The binding is gone either way; a session WeCom already ended answers with an error.
            this.o.logger.warn({ err, externalUserId, gatewayId }, 'could not end the WeCom session of an unbound user'),
          ),
      ),
    );
    this.o.logger.info({ gatewayId, count: users.length }, 'gateway unbound from all users');
    return users;
  }

  private async confirm(externalUserId: string, welcomeCode: string | undefined): Promise<void> {
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
      const { msgid } = await this.o.wecom.sendText({ openKfid: this.o.openKfid, toUser: externalUserId, content });
      await this.o.ledger.recordSend(externalUserId, msgid, null, 0);
    } catch (err) {
      // The binding stands even if WeCom refuses the confirmation (e.g. outside the 48 h window).
      this.o.logger.warn({ err, externalUserId }, 'binding confirmation could not be sent');
    }
  }

  /** Always a link kf/add_contact_way returned: WeCom drops scene_param on any other (reference §3.3). */
  private baseUrl(): Promise<string> {
    return this.links.get(this.o.openKfid);
  }
}

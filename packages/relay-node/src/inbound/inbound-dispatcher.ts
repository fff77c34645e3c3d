import type { Logger } from 'pino';
import { WECOM_ORIGIN, type KfEvent, type KfMessage } from '@wecom-relay/shared';
import type { BindingStore } from '../state/binding-store.js';
import type { OutboundLedger } from '../state/outbound-ledger.js';
import type { RelayMetrics } from '../observability/metrics.js';
import type { DedupStore } from '../state/dedup-store.js';
import { looksLikeBindingToken, type BindingService } from '../binding/binding-service.js';
import type { DeliveryService } from '../delivery/delivery-service.js';
import { toInboundEvent } from './message-mapper.js';
import type { PullContext } from './sync-loop.js';
import type { SessionEventRouter } from './session-event-router.js';
import { BINDING_EVENT, decidedGateway, gatewayDecision, isQueuedDecision, placementOf, ROUTE_DECISION_TTL_MS, routeDecisionKey, UNBOUND } from './route-decision.js';

/** Options for {@link InboundDispatcher}. */
export interface InboundDispatcherOptions {
  bindings: BindingStore;
  ledger: OutboundLedger;
  binding: BindingService;
  delivery: Pick<DeliveryService, 'enqueue' | 'wake'>;
  /** Where each message's routing decision is recorded (key `r:<msgid>`), cluster-wide. */
  dedup: DedupStore;
  logger: Logger;
  metrics: RelayMetrics;
  /**
   * With no stored cursor WeCom returns up to 3 days of history. Only messages younger than this are forwarded
   * then, so that a new deployment (or a lost cursor) does not replay days of old conversations to gateways.
   */
  firstPullMaxAgeMs: number;
  now?: () => number;
  /** Session events and servicers' messages for gateways that ask (`session_events`); without it they are dropped. */
  sessionEvents?: SessionEventRouter;
  /** `inbound` events name the kf account (`open_kfid`): set when the relay serves several. */
  tagAccount?: boolean;
}

/**
 * Decides where each pulled message goes: a gateway's queue, the binding flow, or nowhere (with a reason).
 * Every step is idempotent per msgid (queue appends carry the msgid as their dedup key), so a page pulled twice
 * (a crash mid-page, a holder whose lease ran out) hands each message on once and leaves nothing half-done.
 *
 * Where a customer message goes is decided once per msgid, cluster-wide, and recorded before the queue append:
 * a page pulled again (after a partial failure, or by the puller that took over) reuses the decision instead of
 * the user's binding at that moment, so a message sent while bound to G1 cannot also reach G2 after a rebind
 * later in the same page. The record is one short string (`>` + the gateway id) in the dedup keyspace, kept as long
 * as the queue's own dedup keys; a scan's decision is the token-use record BindingService keeps.
 */
export class InboundDispatcher {
  private readonly now: () => number;

  constructor(private readonly o: InboundDispatcherOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Handles one message from kf/sync_msg; safe to call again with the same message. */
  async dispatch(message: KfMessage, context: PullContext): Promise<void> {
    const { metrics, logger } = this.o;
    const msgtype = String(message.msgtype ?? 'unknown');
    if (!message.msgid) {
      metrics.messagesIn.inc({ msgtype, outcome: 'ignored' });
      return;
    }
    if (context.firstPull && Number(message.send_time) * 1000 < this.now() - this.o.firstPullMaxAgeMs) {
      metrics.messagesIn.inc({ msgtype, outcome: 'history' });
      return;
    }
    if (msgtype === 'event' && message.event) {
      await this.onEvent(message.msgid, message.event, this.sendTimeOf(message));
      metrics.messagesIn.inc({ msgtype: `event:${String(message.event.event_type)}`, outcome: 'handled' });
      return;
    }
    if (Number(message.origin) === WECOM_ORIGIN.SERVICER && this.o.sessionEvents) {
      // A human agent's words go out as servicer_message, which only session_events gateways receive (no echo loop).
      metrics.messagesIn.inc({ msgtype, outcome: `servicer_${await this.o.sessionEvents.servicerMessage(message)}` });
      return;
    }
    if (Number(message.origin) !== WECOM_ORIGIN.CUSTOMER || !message.external_userid) {
      // Servicer messages (origin 5) are a human agent's words: echoing them to the gateway would loop.
      metrics.messagesIn.inc({ msgtype, outcome: 'ignored' });
      return;
    }
    const user = message.external_userid;
    // The customer wrote: WeCom's 48 h / 5-message send window with the account written to starts again.
    await this.o.ledger.customerSpoke(message.open_kfid || context.openKfid, user, (Number(message.send_time) || this.now() / 1000) * 1000, message.msgid);
    const text = msgtype === 'text' ? String((message.text as { content?: unknown } | undefined)?.content ?? '') : '';
    const decisionKey = routeDecisionKey(message.msgid);
    const placement = placementOf(message);
    const at = this.sendTimeOf(message);
    if (text && looksLikeBindingToken(text)) {
      // A text that was routed as an ordinary message the first time stays one on a re-pull.
      const prior = await this.o.dedup.recall(decisionKey, placement);
      if ((prior === null || prior === BINDING_EVENT) && (await this.o.binding.bindByTypedToken(user, text, { eventId: message.msgid, at, openKfid: message.open_kfid }))) {
        await this.o.dedup.decide(decisionKey, BINDING_EVENT, ROUTE_DECISION_TTL_MS, placement);
        metrics.messagesIn.inc({ msgtype, outcome: 'binding' });
        return;
      }
    }
    const current = await this.o.bindings.gatewayFor(user);
    const decision = await this.o.dedup.decide(decisionKey, current ? gatewayDecision(current) : UNBOUND, ROUTE_DECISION_TTL_MS, placement);
    if (decision === BINDING_EVENT) {
      metrics.messagesIn.inc({ msgtype, outcome: 'binding' });
      return;
    }
    const gatewayId = decidedGateway(decision);
    if (gatewayId === null) {
      logger.info({ msgid: message.msgid, externalUserId: user }, 'message from an unbound user dropped');
      metrics.messagesIn.inc({ msgtype, outcome: 'unbound' });
      return;
    }
    if (isQueuedDecision(decision)) {
      // Queued in the same step as the decision, by the pull this one repeats: no queue marker was written, as none
      // is needed; the owner is still woken, as for any duplicate.
      await this.o.delivery.wake(gatewayId);
      metrics.messagesIn.inc({ msgtype, outcome: 'duplicate' });
      return;
    }
    const appended = await this.o.delivery.enqueue(gatewayId, toInboundEvent({ ...message, external_userid: user }, this.o.tagAccount), {
      dedupKey: message.msgid,
      ...(placement ? { dedupAt: placement.at } : {}),
    });
    metrics.messagesIn.inc({ msgtype, outcome: appended ? 'queued' : 'duplicate' });
  }

  /** WeCom's send_time in unix seconds (now, when WeCom gave none). */
  private sendTimeOf(message: KfMessage): number {
    return Number(message.send_time) || Math.floor(this.now() / 1000);
  }

  private async onEvent(msgid: string, event: KfEvent, at: number): Promise<void> {
    const e = event as Record<string, unknown>;
    switch (e.event_type) {
      case 'enter_session': {
        const user = typeof e.external_userid === 'string' ? e.external_userid : '';
        const sceneParam = typeof e.scene_param === 'string' ? e.scene_param : '';
        if (user && sceneParam) {
          const welcomeCode = typeof e.welcome_code === 'string' ? e.welcome_code : undefined;
          const openKfid = typeof e.open_kfid === 'string' ? e.open_kfid : undefined;
          const bound = await this.o.binding.bindByToken(user, sceneParam, { welcomeCode, eventId: msgid, at, openKfid });
          if (bound) return;
          this.o.logger.info({ externalUserId: user }, 'scan with an unknown or expired binding token');
        }
        await this.o.sessionEvents?.event(msgid, at, event);
        return;
      }
      case 'msg_send_fail': {
        const failMsgid = typeof e.fail_msgid === 'string' ? e.fail_msgid : '';
        const failType = Number(e.fail_type) || 0;
        this.o.logger.warn({ externalUserId: e.external_userid, failMsgid, failType }, 'WeCom could not deliver a message to the user');
        const sender = failMsgid ? await this.o.ledger.senderOf(failMsgid) : null;
        if (sender) {
          await this.o.delivery.enqueue(
            sender.gatewayId,
            {
              type: 'send_failed',
              id: sender.requestId,
              externalUserId: sender.externalUserId,
              msgid: failMsgid,
              failType,
              reason: sendFailReason(failType),
            },
            { dedupKey: msgid },
          );
        }
        return;
      }
      case 'servicer_status_change': {
        // Names no customer, so no gateway's queue owns it; sending it to every gateway would cost a write per
        // gateway per event. Operators see it here; gateways see its effect on a customer via session_status.
        // Label values are WeCom's small enums; anything else is folded so a surprise cannot grow the series.
        const status = label(e.status, ['1', '2']);
        const stopType = e.stop_type === undefined ? '' : label(e.stop_type, ['0', '1']);
        this.o.metrics.servicerStatusChanges.inc({ status, stop_type: stopType });
        this.o.logger.info({ servicerUserId: e.servicer_userid, openKfid: e.open_kfid, status, stopType }, 'servicer status changed');
        return;
      }
      default:
        if (!(await this.o.sessionEvents?.event(msgid, at, event))) {
          this.o.logger.debug({ eventType: e.event_type }, 'kf event ignored');
        }
    }
  }
}

/** A metric label from one of WeCom's documented values, or `other`. */
function label(value: unknown, known: readonly string[]): string {
  const text = String(value);
  return known.includes(text) ? text : 'other';
}

/** WeCom's msg_send_fail fail_type in words (reference §2.2; 11 and 12 UNCONFIRMED). */
function sendFailReason(failType: number): string {
  const reasons: Record<number, string> = {
    1: 'the kf account was deleted',
    2: 'the app was closed',
    4: 'the session expired (more than 48 h since the customer wrote)',
    5: 'the session was closed',
    6: 'more than 5 messages were sent since the customer wrote',
    7: 'no WeChat Channels account is bound',
    8: 'the enterprise is not verified',
    9: 'no WeChat Channels account is bound and the enterprise is not verified',
    10: 'the user rejected the message',
    11: 'no enterprise member has logged into the WeCom app',
    12: 'this message type is not allowed for the kf component',
  };
  return reasons[failType] ?? 'unknown reason';
}

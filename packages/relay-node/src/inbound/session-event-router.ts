import type { Logger } from 'pino';
import type { KfEvent, KfMessage, QueuedEvent, SessionChange } from '@wecom-relay/shared';
import type { BindingStore } from '../state/binding-store.js';
import type { DeliveryService } from '../delivery/delivery-service.js';
import { toServicerMessageEvent } from './message-mapper.js';

/** Options for {@link SessionEventRouter}. */
export interface SessionEventRouterOptions {
  bindings: BindingStore;
  delivery: DeliveryService;
  logger: Logger;
}

/** WeCom's session_status_change change_type (reference §2.2). */
const CHANGES: Readonly<Record<number, SessionChange>> = { 1: 'taken_from_pool', 2: 'transferred', 3: 'ended', 4: 'reentered' };

/**
 * Hands what happens around a conversation (a session entered, a servicer taking or ending it, a recall, a servicer's
 * own words, a servicer rejecting the customer's messages) to the customer's gateway. Queued for every bound gateway, written only to those whose hello asked for
 * `session_events` (the delivery service skips the rest), so the queue's order holds either way. Keyed by WeCom's
 * msgid like messages, so a page pulled twice queues each once.
 */
export class SessionEventRouter {
  constructor(private readonly o: SessionEventRouterOptions) {}

  /** A message a human servicer wrote from the WeCom client (origin 5). Resolves to the outcome for metrics. */
  async servicerMessage(message: KfMessage): Promise<'queued' | 'duplicate' | 'unbound'> {
    const user = message.external_userid;
    if (!user) return 'unbound';
    return this.route(user, message.msgid, toServicerMessageEvent({ ...message, external_userid: user }));
  }

  /** An origin-4 event; returns false for kinds a gateway is not told about (a servicer's own status, unknown kinds). */
  async event(msgid: string, sendTime: number, event: KfEvent): Promise<boolean> {
    const e = event as Record<string, unknown>;
    const user = str(e.external_userid);
    if (!user) return false;
    const base = { id: msgid, externalUserId: user, timestamp: sendTime };
    switch (e.event_type) {
      case 'enter_session':
        await this.route(user, msgid, {
          type: 'session_entered',
          ...base,
          ...opt('scene', str(e.scene)),
          ...opt('sceneParam', str(e.scene_param)),
          ...opt('welcomeCode', str(e.welcome_code)),
          ...(isObject(e.wechat_channels) ? { wechatChannels: { ...e.wechat_channels } } : {}),
        });
        return true;
      case 'session_status_change': {
        const changeType = Number(e.change_type) || 0;
        const newServicer = str(e.new_servicer_userid);
        await this.route(user, msgid, {
          type: 'session_status',
          ...base,
          changeType,
          change: CHANGES[changeType] ?? 'unknown',
          // Taken, transferred or re-entered by a servicer: a person holds it; ended: nobody does.
          humanServicing: changeType !== 3 && newServicer !== undefined,
          ...opt('oldServicerUserId', str(e.old_servicer_userid)),
          ...opt('newServicerUserId', newServicer),
          ...opt('msgCode', str(e.msg_code)),
        });
        return true;
      }
      case 'user_recall_msg':
      case 'servicer_recall_msg': {
        const recallMsgid = str(e.recall_msgid);
        if (!recallMsgid) return false;
        const byServicer = e.event_type === 'servicer_recall_msg';
        await this.route(user, msgid, {
          type: 'message_recalled',
          ...base,
          recallMsgid,
          by: byServicer ? 'servicer' : 'customer',
          ...(byServicer ? opt('servicerUserId', str(e.servicer_userid)) : {}),
        });
        return true;
      }
      case 'reject_customer_msg_switch_change': {
        // UNCONFIRMED: WeCom's reference gives reject_switch as 1/0; anything else is not a state a gateway can use.
        const rejectSwitch = Number(e.reject_switch);
        if (rejectSwitch !== 0 && rejectSwitch !== 1) return false;
        await this.route(user, msgid, {
          type: 'customer_rejected',
          ...base,
          rejected: rejectSwitch === 1,
          ...opt('servicerUserId', str(e.servicer_userid)),
        });
        return true;
      }
      default:
        return false;
    }
  }

  private async route(user: string, msgid: string, event: QueuedEvent): Promise<'queued' | 'duplicate' | 'unbound'> {
    const gatewayId = await this.o.bindings.gatewayFor(user);
    if (!gatewayId) {
      this.o.logger.debug({ msgid, externalUserId: user, type: event.type }, 'session event for an unbound user dropped');
      return 'unbound';
    }
    return (await this.o.delivery.enqueue(gatewayId, event, { dedupKey: msgid })) ? 'queued' : 'duplicate';
  }
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

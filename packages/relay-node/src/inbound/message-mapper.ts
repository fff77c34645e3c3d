import type { InboundMsgType, KfMessage, QueuedEvent } from '@wecom-relay/shared';

const NAMED_TYPES: ReadonlySet<string> = new Set(['text', 'image', 'voice']);
const MEDIA_TYPES: ReadonlySet<string> = new Set(['image', 'voice', 'video', 'file']);

/**
 * Turns a customer's kf message into the event queued for its gateway. Kinds the deployed protocol does not
 * name go out as `unknown` with WeCom's msgtype beside it and, where the payload has words, a readable summary,
 * so an old gateway shows something rather than nothing. `withAccount`: the event names the kf account the message
 * came in on (a relay serving several accounts); with one account the frame stays the one deployed gateways know.
 */
export function toInboundEvent(
  message: KfMessage & { external_userid: string },
  withAccount = false,
): Extract<QueuedEvent, { type: 'inbound' }> {
  const msgtype = String(message.msgtype ?? 'unknown');
  const msgType: InboundMsgType = NAMED_TYPES.has(msgtype) ? (msgtype as InboundMsgType) : 'unknown';
  const payload = (message as Record<string, unknown>)[msgtype] as Record<string, unknown> | undefined;
  const mediaId = MEDIA_TYPES.has(msgtype) && typeof payload?.media_id === 'string' ? payload.media_id : undefined;
  return {
    type: 'inbound',
    id: message.msgid,
    externalUserId: message.external_userid,
    msgType,
    content: summarize(msgtype, payload),
    timestamp: Number(message.send_time) || 0,
    wecomMsgType: msgtype,
    ...(withAccount && typeof message.open_kfid === 'string' && message.open_kfid ? { openKfid: message.open_kfid } : {}),
    ...(mediaId ? { mediaId } : {}),
    ...(isObject(payload) ? { wecomPayload: payload } : {}),
  };
}

/** A servicer's message (origin 5) as the event queued for the customer's gateway (session_events gateways only). */
export function toServicerMessageEvent(message: KfMessage & { external_userid: string }): QueuedEvent {
  const inbound = toInboundEvent(message);
  return { ...inbound, type: 'servicer_message', servicerUserId: String(message.servicer_userid ?? '') };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function summarize(msgtype: string, p: Record<string, unknown> | undefined): string {
  if (!p) return '';
  const s = (k: string) => (typeof p[k] === 'string' || typeof p[k] === 'number' ? String(p[k]) : '');
  switch (msgtype) {
    case 'text':
      return s('content');
    case 'location':
      return [s('name'), s('address'), p.latitude !== undefined ? `(${s('latitude')}, ${s('longitude')})` : '']
        .filter(Boolean)
        .join(' ');
    case 'link':
      return [s('title'), s('desc'), s('url')].filter(Boolean).join('\n');
    case 'miniprogram':
      return [s('title'), s('pagepath')].filter(Boolean).join(' ');
    case 'business_card':
      return s('userid');
    default:
      return '';
  }
}

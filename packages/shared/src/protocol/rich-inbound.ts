import type { InboundDetail, RichMsgType } from './messages.js';

/**
 * WeCom msgtypes a `rich_inbound` gateway sees by name. Their fields are WeCom's, passed on as pulled (a field WeCom
 * adds later flows through); only media ids are dropped, since the media itself is inlined and the ids are useless
 * without the relay's access token. The newer kinds' names and fields are UNCONFIRMED (reference §2.2): a kind not
 * listed here arrives as `unknown` with its payload, never lost.
 */
const PASSED_KINDS: ReadonlySet<string> = new Set<RichMsgType>([
  'image',
  'voice',
  'video',
  'file',
  'location',
  'link',
  'business_card',
  'miniprogram',
  'msgmenu',
  'channels_shop_product',
  'channels_shop_order',
  'merged_msg',
  'channels',
  'note',
  'meeting',
  'schedule',
]);

/** Spellings seen for the same kind; the first SDK reading names the order kind `channel_shop_order` (UNCONFIRMED). */
const ALIASES: Readonly<Record<string, RichMsgType>> = { channel_shop_order: 'channels_shop_order' };

/** The msg_type and typed object a `rich_inbound` gateway gets for a WeCom message of `wecomMsgType`. */
export function richInbound(
  wecomMsgType: string,
  payload: Record<string, unknown> | undefined,
): { msgType: RichMsgType; detail: InboundDetail } {
  const p = payload ?? {};
  if (wecomMsgType === 'text') {
    const content = typeof p.content === 'string' ? p.content : '';
    if (typeof p.menu_id === 'string' && p.menu_id !== '') {
      return { msgType: 'menu', detail: { key: 'menu', fields: { ...p, menu_id: p.menu_id, content } } };
    }
    return { msgType: 'text', detail: { key: 'text', fields: { ...p, content } } };
  }
  const kind = ALIASES[wecomMsgType] ?? wecomMsgType;
  if (PASSED_KINDS.has(kind)) {
    return { msgType: kind as RichMsgType, detail: { key: kind, fields: withoutMediaIds(p) } };
  }
  return { msgType: 'unknown', detail: { key: 'payload', fields: { ...p } } };
}

function withoutMediaIds(p: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(p).filter(([k]) => !k.endsWith('media_id')));
}

import { fail, type JsonReply } from './api-reply.js';
import { ERRCODE } from './errcodes.js';

/**
 * kf/send_msg's field limits for the structured kinds (reference §3.1; the byte limits come from an SDK's reading of
 * the doc). WeCom's errcodes for each breach are UNCONFIRMED: the fake answers 40058 (invalid parameter) naming the
 * field, and 95008 for a menu of more than 10 items (documented).
 */
type Check = (payload: Record<string, unknown>) => string | null;

const bytes = (v: unknown) => (typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : -1);

function strField(name: string, max: number, required: boolean, min = 0): Check {
  return (p) => {
    const n = bytes(p[name]);
    if (p[name] === undefined) return required ? `${name} is required` : null;
    if (n < 0) return `${name} must be a string`;
    if (n < min || n > max) return `${name} must be ${min}-${max} bytes`;
    return null;
  };
}

function httpUrl(name: string, max: number): Check {
  return (p) => strField(name, max, true, 1)(p) ?? (/^https?:\/\//i.test(String(p[name])) ? null : `${name} must be http(s)`);
}

function numberIn(name: string, lo: number, hi: number): Check {
  return (p) => (typeof p[name] === 'number' && p[name] >= lo && p[name] <= hi ? null : `${name} must be a number in ${lo}..${hi}`);
}

const CHECKS: Record<string, Check[]> = {
  link: [strField('title', 128, true, 1), strField('desc', 512, false), httpUrl('url', 2048), strField('thumb_media_id', 256, true, 1)],
  miniprogram: [strField('appid', 32, true, 1), strField('title', 64, false), strField('thumb_media_id', 256, true, 1), strField('pagepath', 1024, true, 1)],
  location: [numberIn('latitude', -90, 90), numberIn('longitude', -180, 180), strField('name', 1024, false), strField('address', 1024, false)],
  msgmenu: [strField('head_content', 1024, false), strField('tail_content', 1024, false)],
};

const MENU_ITEM: Record<string, Check[]> = {
  click: [strField('id', 64, true, 1), strField('content', 128, true, 1)],
  view: [httpUrl('url', 2048), strField('content', 1024, true, 1)],
  miniprogram: [strField('appid', 32, true, 1), strField('pagepath', 1024, true, 1), strField('content', 1024, true, 1)],
};

/** null when the structured payload is acceptable, else WeCom's refusal. */
export function checkStructured(msgtype: string, payload: Record<string, unknown>): JsonReply | null {
  const checks = CHECKS[msgtype];
  if (!checks) return null;
  for (const check of checks) {
    const problem = check(payload);
    if (problem) return fail(ERRCODE.INVALID_PARAMETER, `${msgtype}.${problem}`);
  }
  if (msgtype === 'msgmenu') {
    const list = payload['list'];
    if (list !== undefined && !Array.isArray(list)) return fail(ERRCODE.INVALID_PARAMETER, 'msgmenu.list must be an array');
    const items = (list ?? []) as unknown[];
    if (items.length > 10) return fail(ERRCODE.MENU_TOO_MANY_ITEMS, 'msgmenu has more than 10 items');
    for (const item of items) {
      const type = typeof item === 'object' && item !== null ? (item as Record<string, unknown>)['type'] : undefined;
      const inner = typeof type === 'string' ? (item as Record<string, unknown>)[type] : undefined;
      const itemChecks = typeof type === 'string' ? MENU_ITEM[type] : undefined;
      if (!itemChecks || typeof inner !== 'object' || inner === null) {
        return fail(ERRCODE.INVALID_MENU_ITEM_TYPE, 'invalid menu item type');
      }
      for (const check of itemChecks) {
        const problem = check(inner as Record<string, unknown>);
        if (problem) return fail(ERRCODE.INVALID_PARAMETER, `msgmenu.list.${type}.${problem}`);
      }
    }
  }
  return null;
}

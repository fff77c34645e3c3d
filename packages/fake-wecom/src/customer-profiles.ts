import { fail, ok, type JsonReply } from './api-reply.js';
import type { CustomerProfileInput } from './control-types.js';
import { ControlError, requireString } from './control-error.js';
import { ERRCODE } from './errcodes.js';
import type { FakeState } from './fake-state.js';

/** kf/customer/batchget takes 1-100 external_userids per call (reference: WeCom's kf customer API, path/95159). */
const MAX_BATCH = 100;

/** Profiles WeCom would return; a customer the fake has seen but nobody described gets a made-up one. */
export class CustomerProfiles {
  readonly #set = new Map<string, Record<string, unknown>>();
  /** How many ids each batchget asked for, oldest first, so tests can see batching. */
  readonly batches: number[] = [];

  set(input: CustomerProfileInput): void {
    const id = requireString(input, 'external_userid');
    const { external_userid: _, ...fields } = input;
    if (typeof fields.nickname !== 'string') throw new ControlError('CONTROL_BAD_REQUEST', 'nickname is required');
    this.#set.set(id, { ...fields });
  }

  get(id: string): Record<string, unknown> | undefined {
    return this.#set.get(id);
  }

  reset(): void {
    this.#set.clear();
    this.batches.length = 0;
  }
}

/**
 * POST kf/customer/batchget {external_userid_list, need_enter_session_context}: one profile per known customer,
 * unknown ids in invalid_external_userid (field names as WeCom documents them; avatar/unionid contents made up).
 */
export function batchGetCustomers(state: FakeState, body: Record<string, unknown>): JsonReply {
  const list = body['external_userid_list'];
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_BATCH || !list.every((x) => typeof x === 'string')) {
    return fail(ERRCODE.INVALID_PARAMETER, `external_userid_list must hold 1-${MAX_BATCH} strings`);
  }
  state.profiles.batches.push(list.length);
  const seen = new Set(state.sessions.all().map((s) => s.external_userid));
  const customers: Record<string, unknown>[] = [];
  const invalid: string[] = [];
  for (const id of new Set(list as string[])) {
    const given = state.profiles.get(id);
    if (!given && !seen.has(id)) {
      invalid.push(id);
      continue;
    }
    customers.push({
      external_userid: id,
      nickname: `customer-${id.slice(-6)}`,
      avatar: `https://wx.qlogo.cn/mmhead/${id}/0`,
      gender: 0,
      unionid: '',
      ...given,
    });
  }
  return ok({ customer_list: customers, invalid_external_userid: invalid });
}

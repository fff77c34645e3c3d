import { describe, expect, it } from 'vitest';
import { isCustomerRejected, normalizeCustomerRejected } from '../src/index.js';

describe('customer_rejected frames, typed across dialects', () => {
  it('reads every field of the plain frame and the cs one alike', () => {
    const plain = { type: 'customer_rejected', id: 'e', external_user_id: 'u', timestamp: 7, servicer_userid: 's', rejected: true, delivery_id: 'd' };
    expect(isCustomerRejected(plain)).toBe(true);
    const { raw, ...typed } = normalizeCustomerRejected(plain);
    expect(raw).toBe(plain);
    expect(typed).toEqual({ type: 'customer_rejected', id: 'e', externalUserId: 'u', timestamp: 7, rejected: true, servicerUserId: 's', deliveryId: 'd' });

    const cs = { type: 'cs_customer_rejected', platform: 'wecom', id: 'e2', customer_id: 'u', timestamp: 8, rejected: false };
    expect(isCustomerRejected(cs)).toBe(true);
    expect(normalizeCustomerRejected(cs)).toMatchObject({ externalUserId: 'u', rejected: false });
    expect(normalizeCustomerRejected(cs)).not.toHaveProperty('servicerUserId');
  });

  it('other frames are not customer_rejected', () => {
    expect(isCustomerRejected({ type: 'session_status' })).toBe(false);
    expect(isCustomerRejected({ type: 'cs_inbound' })).toBe(false);
  });
});

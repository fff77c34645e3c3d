import { describe, expect, it } from 'vitest';
import { parseFrame } from '../src/wire.js';

describe('fields of the relay features reach the application', () => {
  it('rich_inbound details and customer_profile customer, in both dialects', () => {
    const plain = parseFrame(
      JSON.stringify({
        type: 'inbound',
        id: 'm',
        external_user_id: 'u',
        msg_type: 'location',
        content: '',
        timestamp: 1,
        location: { latitude: 1, longitude: 2 },
        customer: { nickname: 'Li' },
      }),
    );
    expect(plain).toMatchObject({ kind: 'event', event: { msgType: 'location', details: { latitude: 1, longitude: 2 }, customer: { nickname: 'Li' } } });
    const unknown = parseFrame(JSON.stringify({ type: 'cs_inbound', id: 'm', customer_id: 'u', msg_type: 'unknown', payload: { a: 1 } }));
    expect(unknown).toMatchObject({ event: { externalUserId: 'u', details: { a: 1 } } });
    const bound = parseFrame(JSON.stringify({ type: 'binding_resolved', external_user_id: 'u', gateway_id: 'g', customer: { nickname: 'Li' } }));
    expect(bound).toMatchObject({ event: { type: 'binding_resolved', customer: { nickname: 'Li' } } });
  });

  it('session_events customer_rejected, in both dialects', () => {
    const on = parseFrame(
      JSON.stringify({ type: 'customer_rejected', id: 'e', external_user_id: 'u', timestamp: 5, servicer_userid: 's', rejected: true, delivery_id: 'd' }),
    );
    expect(on).toEqual({
      kind: 'event',
      event: { type: 'customer_rejected', id: 'e', externalUserId: 'u', timestamp: 5, rejected: true, servicerUserId: 's', deliveryId: 'd' },
    });
    const off = parseFrame(JSON.stringify({ type: 'cs_customer_rejected', id: 'e', customer_id: 'u', timestamp: 6, rejected: false }));
    expect(off).toMatchObject({ kind: 'event', event: { type: 'customer_rejected', externalUserId: 'u', rejected: false } });
  });

  it('frames of old relays carry neither', () => {
    const old = parseFrame(JSON.stringify({ type: 'inbound', id: 'm', external_user_id: 'u', msg_type: 'text', content: 'hi', timestamp: 1 }));
    expect(old.kind === 'event' && old.event).not.toHaveProperty('details');
    expect(old.kind === 'event' && old.event).not.toHaveProperty('customer');
  });
});

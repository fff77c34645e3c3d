/**
 * The `session_events` frames of docs/protocol.md that say something about a customer beyond their messages, typed
 * and normalized across dialects. Written out by hand like wire-frames.ts, independent of the relay's codec.
 */
import { baseType, type WireFrame } from './wire-frames.js';

/** `customer_rejected`: a servicer switched "reject this customer's messages" on (`rejected`) or off again. */
export interface CustomerRejected {
  type: 'customer_rejected';
  id: string;
  externalUserId: string;
  timestamp: number;
  rejected: boolean;
  servicerUserId?: string;
  deliveryId?: string;
  raw: WireFrame;
}

/** Whether a frame (either dialect) is a `customer_rejected` frame. */
export function isCustomerRejected(frame: WireFrame): boolean {
  return baseType(frame.type) === 'customer_rejected';
}

/** A `customer_rejected` / `cs_customer_rejected` frame, normalized; missing fields read as empty, not invented. */
export function normalizeCustomerRejected(frame: WireFrame): CustomerRejected {
  const user = frame.type.startsWith('cs_') ? frame.customer_id : frame.external_user_id;
  const event: CustomerRejected = {
    type: 'customer_rejected',
    id: String(frame.id ?? ''),
    externalUserId: String(user ?? ''),
    timestamp: typeof frame.timestamp === 'number' ? frame.timestamp : Number.NaN,
    rejected: frame.rejected === true,
    raw: frame,
  };
  if (typeof frame.servicer_userid === 'string') event.servicerUserId = frame.servicer_userid;
  if (typeof frame.delivery_id === 'string') event.deliveryId = frame.delivery_id;
  return event;
}

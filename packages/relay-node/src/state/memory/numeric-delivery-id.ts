import { RelayError } from '../../errors/relay-error.js';

// Ids are positive integers well inside the exact range of a double, written in plain decimal.
const DECIMAL_ID = /^[1-9][0-9]{0,14}$/;

/**
 * Parses a delivery id issued by a numeric-id queue (memory and SQLite). Ids can arrive from a gateway
 * (delivery_ack, resumeAfter), so anything else is a clear error, never a crash or a silent misread.
 */
export function parseNumericDeliveryId(id: string): number {
  if (typeof id !== 'string' || !DECIMAL_ID.test(id)) {
    throw new RelayError('FRAME_INVALID', 'not a delivery id this relay issued', { deliveryId: String(id).slice(0, 64) });
  }
  return Number(id);
}

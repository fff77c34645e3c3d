import { RelayError } from '../../errors/relay-error.js';
import { compareQueueIds } from '../delivery-queue.js';

// Canonical Redis stream ids as XADD issues them: decimal ms and sequence, no leading zeros or signs.
const STREAM_ID = /^(0|[1-9][0-9]{0,19})-(0|[1-9][0-9]{0,19})$/;

/**
 * Checks a delivery id before it reaches Redis. Ids can come from a gateway (delivery_ack, resumeAfter),
 * so a malformed one is a clear, coded error rather than a Redis syntax error or a silent misread.
 */
export function checkStreamId(id: string): string {
  if (typeof id !== 'string' || !STREAM_ID.test(id)) {
    throw notIssued(id);
  }
  return id;
}

/** The error for an id this relay never issued. */
export function notIssued(id: unknown): RelayError {
  return new RelayError('FRAME_INVALID', 'not a delivery id this relay issued', { deliveryId: String(id).slice(0, 64) });
}

/** The millisecond part of a stream id, which XADD takes from the Redis server's clock. */
export function streamIdMillis(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}

/** Orders two canonical stream ids (as {@link checkStreamId} accepts) exactly, whatever their size: -1, 0 or 1. */
export const compareStreamIds: (a: string, b: string) => number = compareQueueIds;

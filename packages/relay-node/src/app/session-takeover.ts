import type { GatewayFeature, UnsentRest } from '@wecom-relay/shared';
import { RelayError } from '../errors/relay-error.js';

/** WeCom's "the session state does not allow sending" (reference §3.1/§3.7): in practice a human servicer holds it. */
const SESSION_STATE_ERRCODE = 95018;

const TAKEN_OVER_MESSAGE =
  'WeCom refused the message (95018): the session is not with the bot (a human servicer has taken it, or it is queued ' +
  'or ended); the relay can send again once the session is handed back (service state 0 or 1) or the customer starts a new one.';

/**
 * For `session_events` gateways, a refusal because of the session's state reads SESSION_TAKEN_OVER instead of the
 * window code old gateways get, so a bot can stop answering a customer a person is now serving.
 */
export function takeoverAware(features: readonly GatewayFeature[], err: unknown): unknown {
  if (!features.includes('session_events') || !(err instanceof RelayError)) return err;
  if (err.code !== 'SEND_WINDOW_CLOSED' || err.details['wecomErrcode'] !== SESSION_STATE_ERRCODE) return err;
  return new RelayError('SESSION_TAKEN_OVER', TAKEN_OVER_MESSAGE, { ...err.details }, { cause: err });
}

/** The same for the unsent rest of a split reply. */
export function takeoverAwareUnsent(features: readonly GatewayFeature[], unsent: UnsentRest): UnsentRest {
  if (!features.includes('session_events') || unsent.wecomErrcode !== SESSION_STATE_ERRCODE) return unsent;
  return { ...unsent, code: 'SESSION_TAKEN_OVER', message: TAKEN_OVER_MESSAGE };
}

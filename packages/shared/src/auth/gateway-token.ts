import { createHmac } from 'node:crypto';

export { timingSafeStringEqual } from './timing-safe-equal.js';

/** auth_token = hex(HMAC-SHA256(key = secret, message = gatewayId)). */
export function gatewayAuthToken(secret: string, gatewayId: string): string {
  return createHmac('sha256', secret).update(gatewayId, 'utf8').digest('hex');
}

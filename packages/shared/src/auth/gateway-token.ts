import { createHmac } from 'node:crypto';

export { timingSafeStringEqual } from './timing-safe-equal.js';

/** auth_token = hex(HMAC-SHA256(key = secret, message = gatewayId)), both as UTF-8 (Node's default for strings). */
export function gatewayAuthToken(secret: string, gatewayId: string): string {
  return createHmac('sha256', secret).update(gatewayId).digest('hex');
}

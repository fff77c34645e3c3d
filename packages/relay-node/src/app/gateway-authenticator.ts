import { gatewayAuthToken, timingSafeStringEqual, type HelloCommand } from '@wecom-relay/shared';
import { RelayError } from '../errors/relay-error.js';

/**
 * Checks a hello's auth_token: each gateway has its own token, HMAC-SHA256(RELAY_AUTH_SECRET, gateway_id),
 * so holding one gateway's token does not let anyone claim another gateway id. The shared-secret mode of the
 * deployed relay exists only when the operator turns it on.
 */
export function createGatewayAuthenticator(auth: { secret: string; legacySharedSecret: boolean }) {
  return async function authenticate(hello: HelloCommand): Promise<void> {
    const expected = gatewayAuthToken(auth.secret, hello.gatewayId);
    const ok =
      timingSafeStringEqual(hello.authToken, expected) ||
      (auth.legacySharedSecret && timingSafeStringEqual(hello.authToken, auth.secret));
    if (!ok) throw new RelayError('AUTH_FAILED');
  };
}

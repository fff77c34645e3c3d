import type { Logger } from 'pino';
import { gatewayAuthToken, timingSafeStringEqual, type HelloCommand } from '@wecom-relay/shared';
import { RelayError } from '../errors/relay-error.js';
import { isWeakSecret } from '../config/config-schema.js';

/** Gateway ids already warned about sending the shared secret; bounded so a flood of ids cannot grow it. */
const MAX_WARNED_GATEWAYS = 1_000;

/**
 * Checks a hello's auth_token: each gateway has its own token, HMAC-SHA256(RELAY_AUTH_SECRET, gateway_id),
 * so holding one gateway's token does not let anyone claim another gateway id. The shared-secret mode of the
 * deployed relay exists only when the operator turns it on.
 */
export function createGatewayAuthenticator(auth: { secret: string; legacySharedSecret: boolean }, logger?: Logger) {
  if (auth.legacySharedSecret) {
    logger?.warn(
      { weakSecret: isWeakSecret(auth.secret) },
      'RELAY_LEGACY_SHARED_SECRET_AUTH is on: any holder of RELAY_AUTH_SECRET can claim any gateway id; ' +
        'move gateways to their own tokens (pnpm relay token <gateway_id>) and turn it off',
    );
  }
  const warned = new Set<string>();
  return async function authenticate(hello: HelloCommand): Promise<void> {
    const expected = gatewayAuthToken(auth.secret, hello.gatewayId);
    if (timingSafeStringEqual(hello.authToken, expected)) return;
    const sentSecret = timingSafeStringEqual(hello.authToken, auth.secret);
    if (sentSecret && auth.legacySharedSecret) {
      // Lets the operator see which gateways still need their own token before turning legacy mode off.
      logger?.info({ gatewayId: hello.gatewayId }, 'gateway authenticated with the shared secret (legacy mode)');
      return;
    }
    if (sentSecret && warned.size < MAX_WARNED_GATEWAYS && !warned.has(hello.gatewayId)) {
      // A deployed gateway still sends the shared secret: say once per gateway what the operator can do.
      warned.add(hello.gatewayId);
      logger?.warn(
        { gatewayId: hello.gatewayId },
        'gateway refused: it sent RELAY_AUTH_SECRET itself as auth_token, as the deployed relay expected; give it its own ' +
          'token (pnpm relay token <gateway_id>) or set RELAY_LEGACY_SHARED_SECRET_AUTH=true during the migration',
      );
    }
    throw new RelayError('AUTH_FAILED');
  };
}

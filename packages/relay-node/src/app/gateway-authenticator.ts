import type { Logger } from 'pino';
import { gatewayAuthToken, timingSafeStringEqual, type HelloCommand } from '@wecom-relay/shared';
import { RelayError } from '../errors/relay-error.js';
import { isWeakSecret } from '../config/config-schema.js';

/** Gateway ids already warned about sending the shared secret; bounded so a flood of ids cannot grow it. */
const MAX_WARNED_GATEWAYS = 1_000;

/** The secrets a node accepts gateway tokens from. */
export interface GatewayAuthSecrets {
  secret: string;
  /** During a rotation, the secret being retired: tokens derived from it keep working until it is removed. */
  previousSecret?: string | undefined;
  legacySharedSecret: boolean;
}

/** Which secret a hello's token came from, so operators can tell when the previous one is no longer used. */
export interface GatewayAuthOutcome {
  secret: 'current' | 'previous';
  /** `derived`: the gateway's own HMAC token; `legacy`: the shared secret itself (RELAY_LEGACY_SHARED_SECRET_AUTH). */
  mode: 'derived' | 'legacy';
}

/**
 * Checks a hello's auth_token: each gateway has its own token, HMAC-SHA256(RELAY_AUTH_SECRET, gateway_id),
 * so holding one gateway's token does not let anyone claim another gateway id. The shared-secret mode of the
 * deployed relay exists only when the operator turns it on. During a rotation the previous secret counts too. Every
 * candidate is compared (in constant time) so the time taken does not tell which one matched.
 */
export function createGatewayAuthenticator(
  auth: GatewayAuthSecrets,
  logger?: Logger,
  onAuthenticated?: (hello: HelloCommand, outcome: GatewayAuthOutcome) => void,
) {
  if (auth.legacySharedSecret) {
    logger?.warn(
      { weakSecret: isWeakSecret(auth.secret) },
      'RELAY_LEGACY_SHARED_SECRET_AUTH is on: any holder of RELAY_AUTH_SECRET can claim any gateway id; ' +
        'move gateways to their own tokens (pnpm relay token <gateway_id>) and turn it off',
    );
  }
  const secrets: Array<[GatewayAuthOutcome['secret'], string]> = [['current', auth.secret]];
  if (auth.previousSecret) secrets.push(['previous', auth.previousSecret]);
  const warned = new Set<string>();
  return async function authenticate(hello: HelloCommand): Promise<GatewayAuthOutcome> {
    let outcome: GatewayAuthOutcome | null = null;
    let sentSecret = false;
    for (const [which, secret] of secrets) {
      const derived = timingSafeStringEqual(hello.authToken, gatewayAuthToken(secret, hello.gatewayId));
      const isSecret = timingSafeStringEqual(hello.authToken, secret);
      sentSecret ||= isSecret;
      const legacy = auth.legacySharedSecret && isSecret;
      if (outcome === null && (derived || legacy)) outcome = { secret: which, mode: derived ? 'derived' : 'legacy' };
    }
    if (outcome !== null) {
      // Lets the operator see which gateways still need their own token before turning legacy mode off.
      if (outcome.mode === 'legacy') logger?.info({ gatewayId: hello.gatewayId }, 'gateway authenticated with the shared secret (legacy mode)');
      onAuthenticated?.(hello, outcome);
      return outcome;
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

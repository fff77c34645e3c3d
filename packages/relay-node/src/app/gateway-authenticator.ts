import { gatewayAuthToken, timingSafeStringEqual, type HelloCommand } from '@wecom-relay/shared';
import { RelayError } from '../errors/relay-error.js';

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
 * deployed relay exists only when the operator turns it on. Every candidate is compared (in constant time) so the
 * time taken does not tell which one matched.
 */
export function createGatewayAuthenticator(
  auth: GatewayAuthSecrets,
  onAuthenticated?: (hello: HelloCommand, outcome: GatewayAuthOutcome) => void,
) {
  const secrets: Array<[GatewayAuthOutcome['secret'], string]> = [['current', auth.secret]];
  if (auth.previousSecret) secrets.push(['previous', auth.previousSecret]);
  return async function authenticate(hello: HelloCommand): Promise<GatewayAuthOutcome> {
    let outcome: GatewayAuthOutcome | null = null;
    for (const [which, secret] of secrets) {
      const derived = timingSafeStringEqual(hello.authToken, gatewayAuthToken(secret, hello.gatewayId));
      const legacy = auth.legacySharedSecret && timingSafeStringEqual(hello.authToken, secret);
      if (outcome === null && (derived || legacy)) outcome = { secret: which, mode: derived ? 'derived' : 'legacy' };
    }
    if (outcome === null) throw new RelayError('AUTH_FAILED');
    onAuthenticated?.(hello, outcome);
    return outcome;
  };
}

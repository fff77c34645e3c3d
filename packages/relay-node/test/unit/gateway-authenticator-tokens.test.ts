import { describe, expect, it } from 'vitest';
import { gatewayAuthToken, type HelloCommand } from '@wecom-relay/shared';
import { createGatewayAuthenticator, type GatewayAuthOutcome } from '../../src/app/gateway-authenticator.js';
import { RelayError } from '../../src/errors/relay-error.js';

const SECRET = 'current-relay-secret-0123456789';
const PREVIOUS = 'previous-relay-secret-9876543210';

function hello(gatewayId: string, authToken: string): HelloCommand {
  return { type: 'hello', gatewayId, authToken } as HelloCommand;
}

/** What the real authenticator says about a token: the outcome, or the error code it refused with. */
async function check(options: Parameters<typeof createGatewayAuthenticator>[0], gatewayId: string, token: string) {
  try {
    return await createGatewayAuthenticator(options)(hello(gatewayId, token));
  } catch (err) {
    expect(err).toBeInstanceOf(RelayError);
    return (err as RelayError).code;
  }
}

describe('the gateway authenticator', () => {
  const plain = { secret: SECRET, legacySharedSecret: false };
  const token = gatewayAuthToken(SECRET, 'gw-a');

  it("accepts exactly the gateway's own token", async () => {
    expect(await check(plain, 'gw-a', token)).toEqual({ secret: 'current', mode: 'derived' });
  });

  it('refuses truncated, extended, case-changed and other gateways\' tokens with AUTH_FAILED', async () => {
    for (const bad of [
      token.slice(0, -1),
      token.slice(0, 32),
      `${token}0`,
      `${token}${token}`,
      token.toUpperCase(),
      gatewayAuthToken(SECRET, 'gw-b'),
      gatewayAuthToken(SECRET, 'gw-A'),
      gatewayAuthToken(SECRET.slice(0, -1), 'gw-a'),
      '',
    ]) {
      expect(await check(plain, 'gw-a', bad)).toBe('AUTH_FAILED');
    }
  });

  it('refuses the shared secret as a token unless legacy mode is on, and then accepts it for any gateway id', async () => {
    expect(await check(plain, 'gw-a', SECRET)).toBe('AUTH_FAILED');
    const legacy = { secret: SECRET, legacySharedSecret: true };
    expect(await check(legacy, 'gw-a', SECRET)).toEqual({ secret: 'current', mode: 'legacy' });
    expect(await check(legacy, 'any-gateway', SECRET)).toEqual({ secret: 'current', mode: 'legacy' });
    expect(await check(legacy, 'gw-a', token)).toEqual({ secret: 'current', mode: 'derived' });
    for (const bad of [SECRET.slice(0, -1), `${SECRET}x`, SECRET.toUpperCase()]) expect(await check(legacy, 'gw-a', bad)).toBe('AUTH_FAILED');
  });

  it('accepts tokens from the previous secret only while it is configured, and says so', async () => {
    const oldToken = gatewayAuthToken(PREVIOUS, 'gw-a');
    expect(await check(plain, 'gw-a', oldToken)).toBe('AUTH_FAILED');
    const rotating = { secret: SECRET, previousSecret: PREVIOUS, legacySharedSecret: false };
    expect(await check(rotating, 'gw-a', oldToken)).toEqual({ secret: 'previous', mode: 'derived' });
    expect(await check(rotating, 'gw-a', token)).toEqual({ secret: 'current', mode: 'derived' });
    expect(await check(rotating, 'gw-b', oldToken)).toBe('AUTH_FAILED');
    expect(await check(rotating, 'gw-a', oldToken.slice(0, -1))).toBe('AUTH_FAILED');
    expect(await check(rotating, 'gw-a', PREVIOUS)).toBe('AUTH_FAILED');
    const legacyRotating = { ...rotating, legacySharedSecret: true };
    expect(await check(legacyRotating, 'gw-z', PREVIOUS)).toEqual({ secret: 'previous', mode: 'legacy' });
  });

  it('reports each accepted hello to its observer, and no refused one', async () => {
    const seen: Array<[string, GatewayAuthOutcome]> = [];
    const auth = createGatewayAuthenticator({ secret: SECRET, previousSecret: PREVIOUS, legacySharedSecret: false }, undefined, (h, o) => seen.push([h.gatewayId, o]));
    await auth(hello('gw-a', gatewayAuthToken(PREVIOUS, 'gw-a')));
    await expect(auth(hello('gw-b', 'nope'))).rejects.toThrow(RelayError);
    expect(seen).toEqual([['gw-a', { secret: 'previous', mode: 'derived' }]]);
  });
});

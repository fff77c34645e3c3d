import { describe, expect, it } from 'vitest';
import { gatewayAuthToken, type HelloCommand } from '@wecom-relay/shared';
import { createGatewayAuthenticator } from '../../src/app/gateway-authenticator.js';

const SECRET = 'current-relay-secret-0123456789';

describe('the gateway authenticator during a rotation', () => {
  it('a token both secrets accept (previous set equal to current) counts as the current one, so the previous looks unused', async () => {
    const auth = createGatewayAuthenticator({ secret: SECRET, previousSecret: SECRET, legacySharedSecret: true });
    const hello = (authToken: string): HelloCommand => ({ type: 'hello', gatewayId: 'gw-a', authToken }) as HelloCommand;
    expect(await auth(hello(gatewayAuthToken(SECRET, 'gw-a')))).toEqual({ secret: 'current', mode: 'derived' });
    expect(await auth(hello(SECRET))).toEqual({ secret: 'current', mode: 'legacy' });
  });
});

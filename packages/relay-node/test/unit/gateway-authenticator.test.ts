import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { gatewayAuthToken, type HelloCommand } from '@wecom-relay/shared';
import { createGatewayAuthenticator } from '../../src/app/gateway-authenticator.js';

const SECRET = 'deployed-shared-secret';

/** A logger whose lines the test can read. */
function capture() {
  const lines: { level: number; msg: string; gatewayId?: string }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as (typeof lines)[number]);
      done();
    },
  });
  return { lines, logger: pino({ level: 'info' }, stream) };
}

const hello = (gatewayId: string, authToken: string): HelloCommand => ({ type: 'hello', gatewayId, authToken, delivery: 'legacy', features: [] });

describe('gateway authentication', () => {
  it('refuses the shared secret as a token unless legacy mode is on, warning once per gateway with what to do', async () => {
    const { lines, logger } = capture();
    const strict = createGatewayAuthenticator({ secret: SECRET, legacySharedSecret: false }, logger);
    await expect(strict(hello('gw-1', SECRET))).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await expect(strict(hello('gw-1', SECRET))).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await expect(strict(hello('gw-2', 'wrong'))).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await strict(hello('gw-3', gatewayAuthToken(SECRET, 'gw-3')));

    const warnings = lines.filter((l) => l.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ gatewayId: 'gw-1' });
    expect(warnings[0]?.msg).toContain('RELAY_LEGACY_SHARED_SECRET_AUTH');
    expect(warnings[0]?.msg).toContain('pnpm relay token');
    expect(JSON.stringify(lines)).not.toContain(SECRET);

    const legacy = createGatewayAuthenticator({ secret: SECRET, legacySharedSecret: true }, logger);
    lines.length = 0;
    await legacy(hello('gw-1', SECRET));
    await legacy(hello('gw-4', gatewayAuthToken(SECRET, 'gw-4')));
    // Who still uses the shared secret is visible, so the operator knows when legacy mode can go.
    expect(lines.filter((l) => l.msg.includes('shared secret (legacy mode)')).map((l) => l.gatewayId)).toEqual(['gw-1']);
    await expect(legacy(hello('gw-5', 'wrong'))).rejects.toMatchObject({ code: 'AUTH_FAILED' });
  });
});

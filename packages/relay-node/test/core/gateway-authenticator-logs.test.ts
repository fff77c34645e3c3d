import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { gatewayAuthToken, type HelloCommand } from '@wecom-relay/shared';
import { createGatewayAuthenticator } from '../../src/app/gateway-authenticator.js';

const STRONG = 'a-strong-shared-secret-of-enough-length-0123456789';

function capture() {
  const lines: Array<{ level: number; msg: string; gatewayId?: string; weakSecret?: boolean }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as (typeof lines)[number]);
      done();
    },
  });
  return { lines, logger: pino({ level: 'info' }, stream) };
}

const hello = (gatewayId: string, authToken: string): HelloCommand => ({ type: 'hello', gatewayId, authToken, delivery: 'legacy', features: [] });

describe('gateway authenticator: what the operator is told', () => {
  it('legacy mode warns once at start what it allows and how to leave it, flagging a weak secret', () => {
    const strong = capture();
    createGatewayAuthenticator({ secret: STRONG, legacySharedSecret: true }, strong.logger);
    expect(strong.lines).toHaveLength(1);
    expect(strong.lines[0]).toMatchObject({ level: 40, weakSecret: false });
    expect(strong.lines[0]?.msg).toMatch(/^RELAY_LEGACY_SHARED_SECRET_AUTH is on: any holder/);
    expect(strong.lines[0]?.msg).toMatch(/pnpm relay token <gateway_id>\) and turn it off$/);
    expect(JSON.stringify(strong.lines)).not.toContain(STRONG);

    const weak = capture();
    createGatewayAuthenticator({ secret: 'short', legacySharedSecret: true }, weak.logger);
    expect(weak.lines[0]).toMatchObject({ weakSecret: true });

    const strict = capture();
    createGatewayAuthenticator({ secret: STRONG, legacySharedSecret: false }, strict.logger);
    expect(strict.lines).toEqual([]);
  });

  it('works without a logger in both modes', async () => {
    const legacy = createGatewayAuthenticator({ secret: STRONG, legacySharedSecret: true });
    await legacy(hello('gw-1', STRONG));
    const strict = createGatewayAuthenticator({ secret: STRONG, legacySharedSecret: false });
    await expect(strict(hello('gw-1', STRONG))).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await strict(hello('gw-1', gatewayAuthToken(STRONG, 'gw-1')));
  });

  it('the refusal warning names what was wrong and both ways out', async () => {
    const { lines, logger } = capture();
    const strict = createGatewayAuthenticator({ secret: STRONG, legacySharedSecret: false }, logger);
    await expect(strict(hello('gw-1', STRONG))).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    expect(lines[0]?.msg).toMatch(/^gateway refused: it sent RELAY_AUTH_SECRET itself as auth_token/);
    expect(lines[0]?.msg).toContain('RELAY_LEGACY_SHARED_SECRET_AUTH=true');
  });

  it('remembers at most 1000 warned gateway ids: a flood of ids cannot grow it, and none is warned twice', async () => {
    const { lines, logger } = capture();
    const strict = createGatewayAuthenticator({ secret: STRONG, legacySharedSecret: false }, logger);
    for (let i = 0; i < 1_001; i++) await expect(strict(hello(`gw-${i}`, STRONG))).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await expect(strict(hello('gw-0', STRONG))).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    const warned = lines.filter((l) => l.level === 40).map((l) => l.gatewayId);
    expect(warned).toHaveLength(1_000);
    expect(warned.at(-1)).toBe('gw-999');
  });
});

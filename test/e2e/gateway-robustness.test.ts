import { describe, expect, it } from 'vitest';
import type { GatewayClient } from '@wecom-relay/gateway-client';
import { bindByScan } from './support/binding-steps.js';
import { newUserId, useRelayStack, type RelayStack } from './support/relay-stack.js';

// A short hello timeout keeps the 4001 case quick; everything else uses the defaults.
const stack = useRelayStack({ relayEnv: { HELLO_TIMEOUT_MS: '1000' } });

/** The relay is healthy when /healthz answers 200 and its process is still running. */
async function expectHealthy(s: RelayStack): Promise<void> {
  const res = await fetch(`${s.relay.httpUrl}/healthz`);
  await res.arrayBuffer();
  expect(res.status).toBe(200);
  expect(s.relay.process.exited).toBe(false);
}

/** A customer message still reaches this gateway and a reply is still acknowledged. */
async function expectStillServed(s: RelayStack, gw: GatewayClient, user: string): Promise<void> {
  const sent = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'still there?' });
  await gw.waitForInbound((m) => m.id === sent.msgid);
  await expect(gw.reply(user, 'yes')).resolves.toMatchObject({ type: gw.dialect === 'cs' ? 'cs_ack' : 'ack' });
}

describe('authentication', () => {
  it('closes with 4003 when the token is wrong', async () => {
    const s = stack();
    const gw = await s.gateway({ authToken: 'not-the-token', connect: false });
    await expect(gw.connect()).rejects.toMatchObject({ code: 'CLOSED', closeCode: 4003 });
    expect((await gw.closed).code).toBe(4003);
  });

  it('closes with 4003 when a valid token of another gateway id is presented', async () => {
    const s = stack();
    const gw = await s.gateway({ gatewayId: 'gw-victim', authToken: s.tokenFor('gw-attacker'), connect: false });
    await expect(gw.connect()).rejects.toMatchObject({ closeCode: 4003 });
  });

  it('closes with 4002 when the first frame is not hello', async () => {
    const s = stack();
    const gw = await s.gateway({ connect: false });
    await gw.open();
    gw.sendFrame({ type: 'reply', id: 'too-early', external_user_id: newUserId(), content: 'hi' });
    expect((await gw.closed).code).toBe(4002);
  });

  it('closes with 4001 when no hello arrives in time', async () => {
    const s = stack();
    const gw = await s.gateway({ connect: false });
    await gw.open();
    expect((await gw.closed).code).toBe(4001);
  });
});

describe('bad frames from an authenticated gateway', () => {
  it('answers malformed and unknown frames with errors and keeps serving the same socket', async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();
    await bindByScan(s, gw, user);
    const errorsBefore = gw.received.filter((f) => f.type === 'error').length;

    gw.sendRaw('this is not json');
    gw.sendRaw('{"type":');
    gw.sendRaw('[1,2,3]');
    gw.sendRaw('null');
    gw.sendRaw(`${'['.repeat(5_000)}${']'.repeat(5_000)}`);
    gw.sendFrame({ type: 'warp_drive', id: 'unknown-1' });
    gw.sendFrame({ type: 'reply', id: 'invalid-1' });
    gw.sendFrame({ type: 'reply', id: 'invalid-2', external_user_id: 42, content: ['x'] });
    gw.sendRaw(Buffer.from([0xde, 0xad, 0xbe, 0xef]));

    const errors = async (): Promise<string[]> => {
      await gw.waitFor(() => gw.received.filter((f) => f.type === 'error').length - errorsBefore >= 9);
      return gw.received.filter((f) => f.type === 'error').slice(errorsBefore).map((f) => String(f.code));
    };
    const codes = await errors();
    expect(new Set(codes)).toEqual(new Set(['FRAME_MALFORMED', 'FRAME_UNKNOWN_TYPE', 'FRAME_INVALID', 'FRAME_BINARY']));
    const unknown = gw.received.find((f) => f.type === 'error' && f.code === 'FRAME_UNKNOWN_TYPE');
    expect(unknown).toMatchObject({ id: 'unknown-1' });
    expect(gw.received).toContainEqual(expect.objectContaining({ type: 'error', code: 'FRAME_INVALID', id: 'invalid-1' }));

    expect(gw.isConnected).toBe(true);
    await expectHealthy(s);
    await expectStillServed(s, gw, user);
  });

  it('refuses an oversized reply by id and keeps the socket', async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();
    await bindByScan(s, gw, user);

    const huge = 'x'.repeat(5 * 1024 * 1024);
    const err = await gw.reply(user, huge, 'huge-1').catch((e: unknown) => e);

    expect(err).toMatchObject({ code: 'FRAME_TOO_LARGE', frame: { type: 'error', id: 'huge-1' } });
    expect(gw.isConnected).toBe(true);
    await expectHealthy(s);
    await expectStillServed(s, gw, user);
  });

  it('closes a socket that sends a frame far past the limit, and the gateway is served after reconnecting', async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();
    await bindByScan(s, gw, user);

    gw.sendRaw(JSON.stringify({ type: 'reply', id: 'giant', external_user_id: user, content: 'y'.repeat(12 * 1024 * 1024) }));
    expect((await gw.closed).code).toBe(1009);

    await expectHealthy(s);
    await gw.connect();
    await expectStillServed(s, gw, user);
  });

  it('answers an error when a dialect 2 gateway sends a wrong platform, in its own dialect', async () => {
    const s = stack();
    const gw = await s.gateway({ dialect: 'cs' });
    gw.sendFrame({ type: 'cs_reply', id: 'cs-bad-1', customer_id: newUserId(), content: 'x', platform: 'telegram' });
    const error = await gw.waitFor((f) => f.type === 'cs_error' && f.id === 'cs-bad-1');
    expect(error).toMatchObject({ code: 'FRAME_INVALID' });
    await expectHealthy(s);
  });
});

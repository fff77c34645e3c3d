import { describe, expect, it } from 'vitest';
import { BINDING_TOKEN_TTL_MS } from '../../src/binding/binding-service.js';
import { RelayError } from '../../src/errors/relay-error.js';
import { capturingLogger } from '../state-redis/helpers.js';
import { bindingFixture } from './binding-fixture.js';

/** WeCom send_time of the test's first event, unix seconds. */
const T0 = 1_700_000_000;

/** Runs `fn` and returns the RelayError code it rejected with. */
async function refusal(fn: () => Promise<unknown>): Promise<string> {
  const err = await fn().then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RelayError);
  return (err as RelayError).code;
}

describe('binding tokens', () => {
  it('live exactly 10 minutes', async () => {
    expect(BINDING_TOKEN_TTL_MS).toBe(10 * 60_000);
    const f = bindingFixture();
    const early = await f.binding.createBinding('gw-1');
    f.clock.advance(BINDING_TOKEN_TTL_MS - 1);
    expect(await f.binding.bindByToken('wm-a', early.token, { eventId: 'scan-1', at: T0 })).toBe(true);
    const late = await f.binding.createBinding('gw-1');
    f.clock.advance(BINDING_TOKEN_TTL_MS);
    expect(await f.binding.bindByToken('wm-b', late.token, { eventId: 'scan-2', at: T0 })).toBe(false);
  });

  it('are 8 hex characters unless the gateway asks for long ones (32), in the link as scene_param', async () => {
    const f = bindingFixture({ limits: { reuseWithinMs: 0 } });
    const short = await f.binding.createBinding('gw-1');
    expect(short.token).toMatch(/^[0-9a-f]{8}$/);
    expect(short.customerServiceUrl).toBe(`https://work.weixin.qq.com/kf/contact?enc_scene=TEST&scene_param=${short.token}`);
    const long = await f.binding.createBinding('gw-1', { long: true });
    expect(long.token).toMatch(/^[0-9a-f]{32}$/);
  });

  it('bind one customer: a second customer scanning or typing a used token is not bound', async () => {
    const f = bindingFixture();
    const { token } = await f.binding.createBinding('gw-1');
    expect(await f.binding.bindByToken('wm-first', token, { eventId: 'scan-1', at: T0 })).toBe(true);
    expect(await f.binding.bindByToken('wm-second', token, { eventId: 'scan-2', at: T0 + 1 })).toBe(false);
    expect(await f.binding.bindByTypedToken('wm-third', token, { eventId: 'msg-3', at: T0 + 2 })).toBe(false);
    expect(await f.bindings.gatewayFor('wm-first')).toBe('gw-1');
    expect(await f.bindings.gatewayFor('wm-second')).toBeNull();
    expect(await f.bindings.gatewayFor('wm-third')).toBeNull();
  });

  it('a scan pulled again after its token was used gives the same outcome: bound, one confirmation, one binding_resolved', async () => {
    const f = bindingFixture();
    const { token } = await f.binding.createBinding('gw-1');
    for (let i = 0; i < 3; i++) {
      expect(await f.binding.bindByToken('wm-a', token, { eventId: 'scan-1', at: T0 })).toBe(true);
    }
    expect(await f.bindings.gatewayFor('wm-a')).toBe('gw-1');
    expect(await f.queued('gw-1')).toEqual([{ type: 'binding_resolved', externalUserId: 'wm-a', gatewayId: 'gw-1' }]);
    expect(f.kf.texts.filter((t) => t.toUser === 'wm-a')).toHaveLength(1);
  });

  it('a new token never replaces a colliding live one: it is drawn again', async () => {
    const draws = ['aaaaaaaa', 'aaaaaaaa', 'bbbbbbbb'];
    const f = bindingFixture({ randomToken: () => draws.shift() ?? 'cccccccc' });
    const victim = await f.binding.createBinding('gw-victim');
    const other = await f.binding.createBinding('gw-other');
    expect(victim.token).toBe('aaaaaaaa');
    expect(other.token).toBe('bbbbbbbb');
    expect(await f.count('bindingTokens', { outcome: 'collision' })).toBe(1);
    expect(await f.binding.bindByToken('wm-a', 'aaaaaaaa', { eventId: 'scan-1', at: T0 })).toBe(true);
    expect(await f.bindings.gatewayFor('wm-a')).toBe('gw-victim');
  });

  it('gives up with INTERNAL when every draw collides', async () => {
    const f = bindingFixture({ randomToken: () => 'aaaaaaaa', limits: { reuseWithinMs: 0 } });
    await f.binding.createBinding('gw-victim');
    expect(await refusal(() => f.binding.createBinding('gw-other'))).toBe('INTERNAL');
  });
});

describe('create_binding limits', () => {
  it('asked again within the reuse interval, answers with the same unused token; later, or once used, a new one', async () => {
    const f = bindingFixture({ limits: { reuseWithinMs: 10_000 } });
    const first = await f.binding.createBinding('gw-1');
    f.clock.advance(9_999);
    expect((await f.binding.createBinding('gw-1')).token).toBe(first.token);
    f.clock.advance(1);
    const second = await f.binding.createBinding('gw-1');
    expect(second.token).not.toBe(first.token);
    await f.binding.bindByToken('wm-a', second.token, { eventId: 'scan-1', at: T0 });
    expect((await f.binding.createBinding('gw-1')).token).not.toBe(second.token);
    expect(await f.count('bindingTokens', { outcome: 'reused' })).toBe(1);
  });

  it('refuses beyond the live-token cap with TOO_MANY_BINDING_TOKENS, and the tokens already shown keep working', async () => {
    const f = bindingFixture({ limits: { reuseWithinMs: 0, createPerMinute: 1_000, maxLiveTokens: 100 } });
    const tokens: string[] = [];
    for (let i = 0; i < 100; i++) tokens.push((await f.binding.createBinding('gw-1')).token);
    expect(new Set(tokens).size).toBe(100);
    expect(await refusal(() => f.binding.createBinding('gw-1'))).toBe('TOO_MANY_BINDING_TOKENS');
    expect(await f.count('bindingTokens', { outcome: 'too_many' })).toBe(1);
    expect((await f.binding.createBinding('gw-2')).token).toMatch(/^[0-9a-f]{8}$/);
    expect(await f.binding.bindByToken('wm-a', tokens[0]!, { eventId: 'scan-1', at: T0 })).toBe(true);
    await f.binding.createBinding('gw-1');
    f.clock.advance(BINDING_TOKEN_TTL_MS);
    await f.binding.createBinding('gw-1');
  });

  it('refuses beyond the per-minute rate with RATE_LIMITED until the minute has passed', async () => {
    const f = bindingFixture({ limits: { reuseWithinMs: 0, createPerMinute: 3 } });
    for (let i = 0; i < 3; i++) await f.binding.createBinding('gw-1');
    expect(await refusal(() => f.binding.createBinding('gw-1'))).toBe('RATE_LIMITED');
    expect(await f.count('bindingTokens', { outcome: 'rate_limited' })).toBe(1);
    await f.binding.createBinding('gw-2');
    f.clock.advance(60_000);
    await f.binding.createBinding('gw-1');
  });
});

describe('typed tokens', () => {
  it('accept either length in any case, with spaces around', async () => {
    const f = bindingFixture();
    const short = await f.binding.createBinding('gw-1');
    const long = await f.binding.createBinding('gw-2', { long: true });
    expect(await f.binding.bindByTypedToken('wm-a', `  ${short.token.toUpperCase()} `, { eventId: 'm-1', at: T0 })).toBe(true);
    expect(await f.binding.bindByTypedToken('wm-b', long.token, { eventId: 'm-2', at: T0 })).toBe(true);
    expect(await f.bindings.gatewayFor('wm-a')).toBe('gw-1');
    expect(await f.bindings.gatewayFor('wm-b')).toBe('gw-2');
    expect(await f.binding.bindByTypedToken('wm-c', 'hello there', { eventId: 'm-3', at: T0 })).toBe(false);
  });

  it('after the guess limit, a customer\'s typed tokens are not tried (the token stays usable), counted and logged', async () => {
    const { logger, records } = capturingLogger();
    const f = bindingFixture({ limits: { guessLimit: 3, guessWindowMs: 60_000 }, logger });
    const { token } = await f.binding.createBinding('gw-1');
    for (let i = 0; i < 3; i++) {
      expect(await f.binding.bindByTypedToken('wm-guesser', `0000000${i}`, { eventId: `g-${i}`, at: T0 + i })).toBe(false);
    }
    expect(await f.binding.bindByTypedToken('wm-guesser', token, { eventId: 'g-right', at: T0 + 5 })).toBe(false);
    expect(await f.bindings.gatewayFor('wm-guesser')).toBeNull();
    expect(await f.count('bindingAttempts', { via: 'typed', outcome: 'unknown_token' })).toBe(3);
    expect(await f.count('bindingAttempts', { via: 'typed', outcome: 'guess_limited' })).toBe(1);
    expect(records.filter((r) => r.msg === 'typed binding token names no live token')).toHaveLength(3);
    expect(records.some((r) => r.msg === 'typed binding token not tried: too many misses from this customer')).toBe(true);
    // Another customer is not held back, and the token was not used up by the refused attempt.
    expect(await f.binding.bindByTypedToken('wm-honest', token, { eventId: 'h-1', at: T0 + 6 })).toBe(true);
    // The window passes: the guesser is tried again.
    const next = await f.binding.createBinding('gw-1');
    f.clock.advance(60_000);
    expect(await f.binding.bindByTypedToken('wm-guesser', next.token, { eventId: 'g-later', at: T0 + 70 })).toBe(true);
  });

  it('a typed token that bound still binds when its message is pulled again after the guess limit was reached', async () => {
    const f = bindingFixture({ limits: { guessLimit: 1 } });
    const { token } = await f.binding.createBinding('gw-1');
    expect(await f.binding.bindByTypedToken('wm-a', token, { eventId: 'm-1', at: T0 })).toBe(true);
    expect(await f.binding.bindByTypedToken('wm-a', 'ffffffff', { eventId: 'm-2', at: T0 + 1 })).toBe(false);
    expect(await f.binding.bindByTypedToken('wm-a', token, { eventId: 'm-1', at: T0 })).toBe(true);
    expect(f.kf.texts).toHaveLength(1);
  });
});

describe('binding order', () => {
  it('an older binding event applied late (a stale puller) does not undo a newer one', async () => {
    const f = bindingFixture();
    const first = await f.binding.createBinding('gw-1');
    const second = await f.binding.createBinding('gw-2');
    // The newer puller handles both scans of the page, in order.
    expect(await f.binding.bindByToken('wm-a', first.token, { eventId: 'scan-1', at: T0 })).toBe(true);
    expect(await f.binding.bindByToken('wm-a', second.token, { eventId: 'scan-2', at: T0 + 30 })).toBe(true);
    // The puller whose lease ran out gets to the first scan only now.
    expect(await f.binding.bindByToken('wm-a', first.token, { eventId: 'scan-1', at: T0 })).toBe(true);
    expect(await f.bindings.gatewayFor('wm-a')).toBe('gw-2');
    expect(await f.bindings.usersOf('gw-1')).toEqual([]);
    expect(await f.count('bindingAttempts', { via: 'scan', outcome: 'stale' })).toBe(1);
  });
});

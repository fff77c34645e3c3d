import { describe, expect, it } from 'vitest';
import {
  BINDING_TOKEN_TTL_MS,
  DEFAULT_BINDING_LIMITS,
  UNBIND_CONCURRENCY,
  looksLikeBindingToken,
  type BindingWecom,
} from '../../src/binding/binding-service.js';
import { bindingConfirmationText } from '../../src/binding/confirmation-text.js';
import { RelayError } from '../../src/errors/relay-error.js';
import { capturingLogger } from '../state-redis/helpers.js';
import { bindingFixture } from './binding-fixture.js';

/** WeCom send_time of the test's first event, unix seconds. */
const T0 = 1_700_000_000;
const DAY_MS = 24 * 3600_000;

/** The error `fn` rejected with. */
async function rejection(fn: () => Promise<unknown>): Promise<RelayError> {
  const err = await fn().then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RelayError);
  return err as RelayError;
}

describe('binding limits and texts', () => {
  it('default limits are the documented ones', () => {
    expect(DEFAULT_BINDING_LIMITS).toStrictEqual({
      reuseWithinMs: 10_000,
      maxLiveTokens: 100,
      createPerMinute: 30,
      guessLimit: 5,
      guessWindowMs: 600_000,
    });
    expect(BINDING_TOKEN_TTL_MS).toBe(600_000);
    expect(UNBIND_CONCURRENCY).toBe(4);
  });

  it('the confirmation is in the configured locale', () => {
    expect(bindingConfirmationText('en')).toBe('You are now connected. Send your message and it will be answered here.');
    expect(bindingConfirmationText('zh')).toBe('已连接成功，请直接发送消息，我们会在这里回复您。');
  });

  it('a text looks like a token only when it is wholly 8 or 32 hex characters (any case, spaces around)', () => {
    for (const yes of ['abcdef12', ' ABCDEF12 ', '0123456789abcdef0123456789ABCDEF']) expect(looksLikeBindingToken(yes)).toBe(true);
    for (const no of ['abcdef1', 'abcdef123', 'xabcdef12', 'abcdef12x', 'hello abcdef12', 'ghijklmn', '', '0123456789abcdef0123456789abcdef0']) {
      expect(looksLikeBindingToken(no)).toBe(false);
    }
  });
});

describe('typed tokens inside other text', () => {
  it('a message that merely contains a live token is a normal message: not bound, not counted as a guess', async () => {
    const f = bindingFixture();
    const { token } = await f.binding.createBinding('gw-1');
    for (const [n, text] of [`please ${token}`, `${token} thanks`, `x${token}`, `${token}0`].entries()) {
      expect(await f.binding.bindByTypedToken('wm-a', text, { eventId: `m-${n}`, at: T0 + n })).toBe(false);
    }
    expect(await f.pending.guessMisses('wm-a')).toBe(0);
    expect(await f.count('bindingAttempts', { via: 'typed' })).toBe(0);
    // The token itself is still unused.
    expect(await f.binding.bindByTypedToken('wm-a', token, { eventId: 'm-9', at: T0 + 9 })).toBe(true);
    expect(await f.count('bindingAttempts', { via: 'typed', outcome: 'bound' })).toBe(1);
  });

  it('typed misses are logged with the customer, the message and the running count', async () => {
    const { logger, records } = capturingLogger();
    const f = bindingFixture({ limits: { guessLimit: 2 }, logger });
    await f.binding.bindByTypedToken('wm-g', '00000001', { eventId: 'g-1', at: T0 });
    await f.binding.bindByTypedToken('wm-g', '00000002', { eventId: 'g-2', at: T0 + 1 });
    await f.binding.bindByTypedToken('wm-g', '00000003', { eventId: 'g-3', at: T0 + 2 });
    const misses = records.filter((r) => r.msg === 'typed binding token names no live token');
    expect(misses.map((r) => [r.level, r.externalUserId, r.msgid, r.misses])).toEqual([
      [40, 'wm-g', 'g-1', 1],
      [40, 'wm-g', 'g-2', 2],
    ]);
    const limited = records.filter((r) => r.msg === 'typed binding token not tried: too many misses from this customer');
    expect(limited.map((r) => [r.level, r.externalUserId, r.msgid])).toEqual([[40, 'wm-g', 'g-3']]);
  });
});

describe('scans', () => {
  it('an unknown scanned token binds nothing and is counted as a scan of an unknown token', async () => {
    const f = bindingFixture();
    expect(await f.binding.bindByToken('wm-a', 'deadbeef', { eventId: 'scan-1', at: T0 })).toBe(false);
    expect(await f.count('bindingAttempts', { via: 'scan', outcome: 'unknown_token' })).toBe(1);
    expect(await f.count('bindingAttempts', { via: 'typed' })).toBe(0);
    expect(await f.bindings.gatewayFor('wm-a')).toBeNull();
    expect(f.kf.texts).toEqual([]);
  });

  it('a link without a query string gets scene_param after "?"', async () => {
    const f = bindingFixture();
    f.kf.addContactWay = async () => 'https://work.weixin.qq.com/kf/kfcABC';
    const { token, customerServiceUrl } = await f.binding.createBinding('gw-1');
    expect(customerServiceUrl).toBe(`https://work.weixin.qq.com/kf/kfcABC?scene_param=${token}`);
  });

  it('a stale binding event seen for the first time tells no gateway and confirms nothing; it is logged', async () => {
    const { logger, records } = capturingLogger();
    const f = bindingFixture({ logger });
    const first = await f.binding.createBinding('gw-1');
    const second = await f.binding.createBinding('gw-2');
    expect(await f.binding.bindByToken('wm-a', second.token, { eventId: 'scan-2', at: T0 + 30 })).toBe(true);
    // The older scan reaches the relay only now (a puller whose lease ran out).
    expect(await f.binding.bindByToken('wm-a', first.token, { eventId: 'scan-1', at: T0 })).toBe(true);
    expect(await f.bindings.gatewayFor('wm-a')).toBe('gw-2');
    expect(await f.queued('gw-1')).toEqual([]);
    expect(await f.queued('gw-2')).toEqual([{ type: 'binding_resolved', externalUserId: 'wm-a', gatewayId: 'gw-2' }]);
    expect(f.kf.texts).toHaveLength(1);
    const stale = records.filter((r) => r.msg === 'older binding event not applied');
    expect(stale.map((r) => [r.level, r.externalUserId, r.gatewayId, r.current, r.msgid])).toEqual([[30, 'wm-a', 'gw-1', 'gw-2', 'scan-1']]);
    expect(records.filter((r) => r.msg === 'user bound').map((r) => [r.level, r.externalUserId, r.gatewayId, r.previous])).toEqual([
      [30, 'wm-a', 'gw-2', null],
    ]);
  });

  it('"user bound" is logged for a new binding only, not for a re-pull of the same event', async () => {
    const { logger, records } = capturingLogger();
    const f = bindingFixture({ logger });
    const { token } = await f.binding.createBinding('gw-1');
    await f.binding.bindByToken('wm-a', token, { eventId: 'scan-1', at: T0 });
    await f.binding.bindByToken('wm-a', token, { eventId: 'scan-1', at: T0 });
    expect(records.filter((r) => r.msg === 'user bound')).toHaveLength(1);
  });

  it('each binding event confirms to its own user once, whatever other events came before', async () => {
    const f = bindingFixture({ limits: { reuseWithinMs: 0 } });
    const a = await f.binding.createBinding('gw-1');
    const b = await f.binding.createBinding('gw-1');
    await f.binding.bindByToken('wm-a', a.token, { eventId: 'scan-a', at: T0 });
    await f.binding.bindByToken('wm-b', b.token, { eventId: 'scan-b', at: T0 + 1 });
    expect(f.kf.texts.map((t) => t.toUser)).toEqual(['wm-a', 'wm-b']);
  });

  it('a scan pulled again 4 days less a moment later still confirms only once', async () => {
    const f = bindingFixture();
    const { token } = await f.binding.createBinding('gw-1');
    await f.binding.bindByToken('wm-a', token, { eventId: 'scan-1', at: T0 });
    f.clock.advance(4 * DAY_MS - 1);
    expect(await f.binding.bindByToken('wm-a', token, { eventId: 'scan-1', at: T0 })).toBe(true);
    expect(f.kf.texts).toHaveLength(1);
  });
});

describe('confirmation', () => {
  it('uses the welcome code when WeCom gave one, and then sends no ordinary message', async () => {
    const f = bindingFixture();
    const onEvent: Array<{ code: string; content: string }> = [];
    (f.kf as BindingWecom).sendTextOnEvent = async (req) => {
      onEvent.push(req);
      return { msgid: 'welcome-1' };
    };
    const { token } = await f.binding.createBinding('gw-1');
    await f.binding.bindByToken('wm-a', token, { eventId: 'scan-1', at: T0, welcomeCode: 'WC-1' });
    expect(onEvent).toEqual([{ code: 'WC-1', content: bindingConfirmationText('en') }]);
    expect(f.kf.texts).toEqual([]);
  });

  it('falls back to send_msg when the welcome code is refused, and logs why', async () => {
    const { logger, records } = capturingLogger();
    const f = bindingFixture({ logger });
    const { token } = await f.binding.createBinding('gw-1');
    await f.binding.bindByToken('wm-a', token, { eventId: 'scan-1', at: T0, welcomeCode: 'WC-expired' });
    expect(f.kf.texts).toEqual([{ openKfid: 'wk-test', toUser: 'wm-a', content: bindingConfirmationText('en') }]);
    const refused = records.filter((r) => r.msg === 'welcome code refused; confirming with send_msg');
    expect(refused.map((r) => [r.level, r.externalUserId])).toEqual([[30, 'wm-a']]);
    expect(refused[0]!.err).toBeDefined();
  });

  it('without a welcome code, sends an ordinary message and counts it against the user’s window', async () => {
    const f = bindingFixture();
    let onEventCalls = 0;
    f.kf.sendTextOnEvent = async () => {
      onEventCalls++;
      return { msgid: 'never' };
    };
    const { token } = await f.binding.createBinding('gw-1');
    await f.binding.bindByToken('wm-a', token, { eventId: 'scan-1', at: T0 });
    expect(onEventCalls).toBe(0);
    expect(f.kf.texts).toEqual([{ openKfid: 'wk-test', toUser: 'wm-a', content: bindingConfirmationText('en') }]);
  });

  it('a refused confirmation leaves the binding in place and is logged as a warning', async () => {
    const { logger, records } = capturingLogger();
    const f = bindingFixture({ logger });
    f.kf.sendText = async () => {
      throw new Error('95018 outside the window');
    };
    const { token } = await f.binding.createBinding('gw-1');
    expect(await f.binding.bindByToken('wm-a', token, { eventId: 'scan-1', at: T0 })).toBe(true);
    expect(await f.bindings.gatewayFor('wm-a')).toBe('gw-1');
    expect(await f.queued('gw-1')).toEqual([{ type: 'binding_resolved', externalUserId: 'wm-a', gatewayId: 'gw-1' }]);
    const warned = records.filter((r) => r.msg === 'binding confirmation could not be sent');
    expect(warned.map((r) => [r.level, r.externalUserId])).toEqual([[40, 'wm-a']]);
    expect(warned[0]!.err).toBeDefined();
  });
});

describe('token issue refusals', () => {
  it('draws exactly 5 times before giving up, and says so in the error', async () => {
    let draws = 0;
    const f = bindingFixture({
      limits: { reuseWithinMs: 0 },
      randomToken: () => {
        draws++;
        return 'aaaaaaaa';
      },
    });
    await f.binding.createBinding('gw-1');
    draws = 0;
    const err = await rejection(() => f.binding.createBinding('gw-2'));
    expect(draws).toBe(5);
    expect(err.code).toBe('INTERNAL');
    expect(err.message).toBe('no free binding token could be drawn');
    expect(err.details).toStrictEqual({ gatewayId: 'gw-2', attempts: 5 });
    expect(await f.count('bindingTokens', { outcome: 'collision' })).toBe(5);
  });

  it('rate and cap refusals name the gateway and are logged at debug only', async () => {
    const { logger, records } = capturingLogger();
    const capped = bindingFixture({ limits: { reuseWithinMs: 0, maxLiveTokens: 1 }, logger });
    await capped.binding.createBinding('gw-1');
    const tooMany = await rejection(() => capped.binding.createBinding('gw-1'));
    expect(tooMany.code).toBe('TOO_MANY_BINDING_TOKENS');
    expect(tooMany.details).toStrictEqual({ gatewayId: 'gw-1' });
    const limited = bindingFixture({ limits: { reuseWithinMs: 0, createPerMinute: 1 }, logger });
    await limited.binding.createBinding('gw-2');
    const rate = await rejection(() => limited.binding.createBinding('gw-2'));
    expect(rate.code).toBe('RATE_LIMITED');
    expect(rate.details).toStrictEqual({ gatewayId: 'gw-2' });
    const logged = records.filter((r) => String(r.msg).startsWith('create_binding refused'));
    expect(logged.map((r) => [r.level, r.msg, r.gatewayId, r.maxLiveTokens])).toEqual([
      [20, 'create_binding refused: too many live binding tokens', 'gw-1', 1],
      [20, 'create_binding refused: rate limit', 'gw-2', undefined],
    ]);
  });
});

describe('unbindAll', () => {
  it('removes every binding of the gateway and ends each user’s WeCom session (state 4 on the kf account)', async () => {
    const { logger, records } = capturingLogger();
    const f = bindingFixture({ logger });
    const ended: unknown[] = [];
    (f.kf as BindingWecom).transServiceState = async (req) => {
      ended.push(req);
      return {};
    };
    for (const user of ['wm-a', 'wm-b']) {
      const { token } = await f.binding.createBinding('gw-1');
      await f.binding.bindByToken(user, token, { eventId: `scan-${user}`, at: T0 });
      f.clock.advance(DEFAULT_BINDING_LIMITS.reuseWithinMs);
    }
    const { token } = await f.binding.createBinding('gw-2');
    await f.binding.bindByToken('wm-c', token, { eventId: 'scan-c', at: T0 });

    expect((await f.binding.unbindAll('gw-1')).sort()).toEqual(['wm-a', 'wm-b']);
    expect(await f.bindings.usersOf('gw-1')).toEqual([]);
    expect(await f.bindings.gatewayFor('wm-c')).toBe('gw-2');
    expect(ended).toHaveLength(2);
    for (const user of ['wm-a', 'wm-b']) expect(ended).toContainEqual({ openKfid: 'wk-test', externalUserId: user, serviceState: 4 });
    const done = records.filter((r) => r.msg === 'gateway unbound from all users');
    expect(done.map((r) => [r.level, r.gatewayId, r.count])).toEqual([[30, 'gw-1', 2]]);
  });

  it('a session WeCom will not end is logged; the users are unbound anyway', async () => {
    const { logger, records } = capturingLogger();
    const f = bindingFixture({ logger });
    f.kf.transServiceState = async () => {
      throw new Error('95016 session already ended');
    };
    const { token } = await f.binding.createBinding('gw-1');
    await f.binding.bindByToken('wm-a', token, { eventId: 'scan-1', at: T0 });
    expect(await f.binding.unbindAll('gw-1')).toEqual(['wm-a']);
    expect(await f.bindings.gatewayFor('wm-a')).toBeNull();
    const warned = records.filter((r) => r.msg === 'could not end the WeCom session of an unbound user');
    expect(warned.map((r) => [r.level, r.externalUserId, r.gatewayId])).toEqual([[40, 'wm-a', 'gw-1']]);
    expect(warned[0]!.err).toBeDefined();
  });

  it(`ends at most ${UNBIND_CONCURRENCY} sessions at once`, async () => {
    const f = bindingFixture({ limits: { reuseWithinMs: 0 } });
    const users = Array.from({ length: 10 }, (_, i) => `wm-${i}`);
    for (const [i, user] of users.entries()) {
      const { token } = await f.binding.createBinding('gw-1');
      await f.binding.bindByToken(user, token, { eventId: `scan-${i}`, at: T0 + i });
    }
    let inFlight = 0;
    let most = 0;
    const waiting: Array<() => void> = [];
    f.kf.transServiceState = async () => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise<void>((resolve) => waiting.push(resolve));
      inFlight--;
      return {};
    };
    const unbinding = f.binding.unbindAll('gw-1');
    let released = 0;
    for (let turns = 0; released < users.length; turns++) {
      if (turns > 10_000) throw new Error(`only ${released} of ${users.length} sessions were asked to end`);
      await new Promise((resolve) => setImmediate(resolve));
      const next = waiting.shift();
      if (next) {
        next();
        released++;
      }
    }
    expect((await unbinding).sort()).toEqual([...users].sort());
    expect(most).toBe(UNBIND_CONCURRENCY);
  });
});

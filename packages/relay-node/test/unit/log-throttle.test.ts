import { describe, expect, it } from 'vitest';
import { LogThrottle } from '../../src/observability/log-throttle.js';

describe('log throttle', () => {
  it('lets one event per key through per interval and reports how many it held back', () => {
    let now = 0;
    const t = new LogThrottle({ intervalMs: 1_000, now: () => now });
    expect(t.check('1.2.3.4|BAD')).toEqual({ log: true, suppressed: 0 });
    for (let i = 0; i < 5; i++) expect(t.check('1.2.3.4|BAD').log).toBe(false);
    expect(t.check('5.6.7.8|BAD').log).toBe(true);
    expect(t.check('1.2.3.4|OTHER').log).toBe(true);
    now = 1_000;
    expect(t.check('1.2.3.4|BAD')).toEqual({ log: true, suppressed: 5 });
    expect(t.check('1.2.3.4|BAD').log).toBe(false);
  });

  it('remembers a bounded number of keys: past it, new keys share one bucket', () => {
    let now = 0;
    const t = new LogThrottle({ intervalMs: 1_000, maxKeys: 3, now: () => now });
    for (const k of ['a', 'b', 'c']) expect(t.check(k).log).toBe(true);
    // A flood of fresh sources costs one line, not one each.
    expect(t.check('d').log).toBe(true);
    for (const k of ['e', 'f', 'g', 'h']) expect(t.check(k).log).toBe(false);
    now = 1_000;
    // Expired keys make room again.
    expect(t.check('i').log).toBe(true);
  });
});

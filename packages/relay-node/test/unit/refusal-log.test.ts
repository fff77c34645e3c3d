import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { RefusalLog, type RefusalReason } from '../../src/gateway/refusal-log.js';

function harness(options: { intervalMs?: number; maxSources?: number } = {}) {
  const lines: Array<Record<string, unknown>> = [];
  const counted: RefusalReason[] = [];
  const clock = { now: 1_000_000 };
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
        done();
      },
    }),
  );
  const log = new RefusalLog({ logger, count: (r) => counted.push(r), now: () => clock.now, ...options });
  return { log, lines, counted, clock };
}

describe('refusal log', () => {
  it('counts every refusal but logs a source at most once per reason and interval, then says how many it skipped', async () => {
    const { log, lines, counted, clock } = harness({ intervalMs: 60_000 });
    for (let i = 0; i < 5; i++) log.record('198.51.100.7', 'per_source_limit');
    log.record('198.51.100.7', 'hello_timeout');
    log.record('2001:db8:1:2::/64', 'per_source_limit');
    clock.now += 59_999;
    log.record('198.51.100.7', 'per_source_limit');
    await new Promise((resolve) => setImmediate(resolve));
    expect(counted).toHaveLength(8);
    expect(lines.map((l) => [l.source, l.reason])).toEqual([
      ['198.51.100.7', 'per_source_limit'],
      ['198.51.100.7', 'hello_timeout'],
      ['2001:db8:1:2::/64', 'per_source_limit'],
    ]);

    clock.now += 1;
    expect(log.record('198.51.100.7', 'per_source_limit')).toBe(true);
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines).toHaveLength(4);
    expect(lines[3]).toMatchObject({ source: '198.51.100.7', reason: 'per_source_limit', suppressedSinceLastLine: 5 });
    for (const line of lines) {
      expect(line).not.toHaveProperty('err');
      expect(JSON.stringify(line)).not.toMatch(/\bat .*\(.*:\d+:\d+\)/);
    }
  });

  it('remembers a bounded number of sources however many there are', () => {
    const { log, counted } = harness({ maxSources: 100 });
    for (let i = 0; i < 5_000; i++) log.record(`10.0.${i >> 8}.${i & 255}`, 'hello_too_large');
    expect(counted).toHaveLength(5_000);
    expect(log.size).toBeLessThanOrEqual(100);
  });
});

import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { relayEnvFor, spawnFakeWecom, spawnRelayNode, testCorp, type FakeWecomHandle, type RelayNodeHandle } from '@wecom-relay/testkit';
import { bindByScan } from './support/binding-steps.js';
import { sample, scrape } from './support/metric-sample.js';
import { newUserId, startRelayStack } from './support/relay-stack.js';

const corp = testCorp();

/**
 * A node on its own SQLite file with nothing to do: WeCom (the fake) answers and has no messages. Against an
 * unreachable WeCom the node would be retrying its token every second or two, which on a loaded machine is enough
 * work that it never counts as quiet.
 */
function idleNode(fake: FakeWecomHandle, idleCollectAfterMs: string): Promise<RelayNodeHandle> {
  return spawnRelayNode(
    relayEnvFor(corp, fake.url, { IDLE_COLLECT_AFTER_MS: idleCollectAfterMs, SYNC_POLL_INTERVAL_MS: '600000', LOG_LEVEL: 'debug' }),
    { name: `idle-${idleCollectAfterMs}` },
  );
}

const youngGeneration = (text: string): number => sample(text, 'nodejs_heap_space_size_total_bytes', { space: 'new' }) ?? NaN;

describe('a node that falls quiet', () => {
  it('gives back the young generation its start grew, and counts it on /metrics', { timeout: 120_000 }, async () => {
    const fake = await spawnFakeWecom({ corp });
    try {
      const [on, off] = await Promise.all([idleNode(fake, '300'), idleNode(fake, '0')]);
      try {
        // Wait on the node's own log rather than by scraping every 100 ms: the scrapes would be work of their own.
        await on.process.waitForLine((line) => line.includes('"idle collection"'), 60_000);
        const quiet = await scrape(on.metricsUrl);
        expect(sample(quiet, 'relay_idle_collections_total')).toBe(1);
        const kept = await scrape(off.metricsUrl);
        // Starting grows V8's young generation to its full size (two 16 MiB halves); a collection at idle shrinks it.
        expect(youngGeneration(kept)).toBeGreaterThanOrEqual(16 * 1024 * 1024);
        expect(youngGeneration(quiet)).toBeLessThanOrEqual(8 * 1024 * 1024);
        expect(sample(kept, 'relay_idle_collections_total')).toBe(0);
      } finally {
        await Promise.all([on.stop(), off.stop()]);
      }
    } finally {
      await fake.stop();
    }
  });

  it('keeps what messages grew while they came within the last minute, quiet as it falls in between', { timeout: 120_000 }, async () => {
    const s = await startRelayStack({ relayEnv: { IDLE_COLLECT_AFTER_MS: '300', SYNC_POLL_INTERVAL_MS: '600000', LOG_LEVEL: 'debug' } });
    /** The node's collections so far, from its log: when, and the heap it kept. */
    const collections = () =>
      s.relay.process.logs
        .filter((line) => line.includes('"idle collection"'))
        .map((line) => JSON.parse(line) as { time: number | string; heapAfter: number })
        .map((c) => ({ at: typeof c.time === 'number' ? c.time : Date.parse(c.time), heapAfter: c.heapAfter }));
    try {
      await s.relay.process.waitForLine((line) => line.includes('"idle collection"'), 60_000);
      const gw = await s.gateway();
      const user = newUserId();
      await bindByScan(s, gw, user);
      // Messages enough to grow the heap well past the 4 MiB a collection at idle waits for, pulled in one go (400 grew it
      // 7.75 to 10.5 MiB, and once, in a full test run on a loaded machine, 2.75 MiB; 1,000 grew it 20 to 23 MiB).
      let last = '';
      for (let i = 0; i < 1000; i++) {
        const content = `${i} `.padEnd(1500, 'x');
        last = (await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content, deliver: false })).msgid;
      }
      // Collections are at least 5 s apart: past that, the first quiet window after the messages could collect.
      const before = collections().at(-1)!;
      await sleep(Math.max(0, before.at + 5_000 - Date.now()));
      const calledAt = Date.now();
      await s.fake.control.callback();
      await gw.waitForInbound((m) => m.id === last, 60_000);
      // What the messages grew since the last collection, as the first quiet window after them finds it: enough that
      // one would run without them (it waits for 4 MiB).
      const heapAfterMessages = sample(await scrape(s.relay.metricsUrl), 'nodejs_heap_size_total_bytes')!;
      expect(collections().at(-1)).toEqual(before);
      expect(heapAfterMessages - before.heapAfter).toBeGreaterThan(4 * 1024 * 1024);
      // Many quiet windows of 300 ms: each would collect, were it not for the messages a moment ago.
      await sleep(5_000);
      expect(collections().filter((c) => c.at >= calledAt)).toEqual([]);
    } finally {
      await s.stop();
    }
  });
});

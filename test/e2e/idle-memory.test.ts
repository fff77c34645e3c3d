import { describe, expect, it } from 'vitest';
import { relayEnvFor, spawnFakeWecom, spawnRelayNode, testCorp, type FakeWecomHandle, type RelayNodeHandle } from '@wecom-relay/testkit';
import { sample, scrape } from './support/metric-sample.js';

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
});

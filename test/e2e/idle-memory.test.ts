import { describe, expect, it } from 'vitest';
import { relayEnvFor, spawnRelayNode, testCorp, type RelayNodeHandle } from '@wecom-relay/testkit';
import { eventually } from './support/eventually.js';
import { sample, scrape } from './support/metric-sample.js';

/** A node on its own SQLite file, pulling from nowhere (nothing here needs WeCom). */
function idleNode(idleCollectAfterMs: string): Promise<RelayNodeHandle> {
  return spawnRelayNode(relayEnvFor(testCorp(), 'http://127.0.0.1:9', { IDLE_COLLECT_AFTER_MS: idleCollectAfterMs, SYNC_POLL_INTERVAL_MS: '600000' }), {
    name: `idle-${idleCollectAfterMs}`,
  });
}

const youngGeneration = (text: string): number => sample(text, 'nodejs_heap_space_size_total_bytes', { space: 'new' }) ?? NaN;

describe('a node that falls quiet', () => {
  it('gives back the young generation its start grew, and counts it on /metrics', async () => {
    const [on, off] = await Promise.all([idleNode('300'), idleNode('0')]);
    try {
      const quiet = await eventually(async () => {
        const text = await scrape(on.metricsUrl);
        expect(sample(text, 'relay_idle_collections_total')).toBe(1);
        return text;
      });
      const kept = await scrape(off.metricsUrl);
      // Starting grows V8's young generation to its full size (two 16 MiB halves); a collection at idle shrinks it.
      expect(youngGeneration(kept)).toBeGreaterThanOrEqual(16 * 1024 * 1024);
      expect(youngGeneration(quiet)).toBeLessThanOrEqual(8 * 1024 * 1024);
      expect(sample(kept, 'relay_idle_collections_total')).toBe(0);
    } finally {
      await Promise.all([on.stop(), off.stop()]);
    }
  });
});

import { expect } from 'vitest';
import { eventually } from './eventually.js';
import { scrape } from './metric-sample.js';

/**
 * Waits until the single-node relay at `metricsUrl` holds no sync lease, so no pull is running or about to start: a
 * pull a callback asked for while another was running goes round once more, and a count of sync_msg calls taken
 * before it ends would include it or not by chance. Exact for the SQLite stack, whose coordinator answers within the
 * same tick: a run that goes round again never shows 0 between its two leases, and only a new callback (or the poll)
 * starts another.
 */
export async function syncIdle(metricsUrl: string): Promise<void> {
  await eventually(async () => {
    const held = (await scrape(metricsUrl))
      .split('\n')
      .filter((line) => line.startsWith('relay_sync_lease_held{'))
      .map((line) => Number(line.split(' ').pop()));
    expect(held.length).toBeGreaterThan(0);
    expect(held.every((v) => v === 0)).toBe(true);
  });
}

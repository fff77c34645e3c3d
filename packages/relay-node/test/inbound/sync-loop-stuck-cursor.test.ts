import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { KfMessage, SyncMsgResponse } from '@wecom-relay/shared';
import { SyncLoop, type SyncSource } from '../../src/inbound/sync-loop.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { MemorySyncCoordinator } from '../../src/state/memory/index.js';

const OPEN_KFID = 'wk-stuck';

function message(msgid: string): KfMessage {
  return { msgid, open_kfid: OPEN_KFID, external_userid: 'wm-user', send_time: 1_700_000_000, origin: 3, msgtype: 'text', text: { content: msgid } } as KfMessage;
}

/** A WeCom stand-in scripted page by page; once the script runs out it repeats the last page. */
class ScriptedSource implements SyncSource {
  readonly cursors: Array<string | undefined> = [];
  constructor(
    private readonly pages: SyncMsgResponse[],
    private readonly onCall: (n: number) => void = () => undefined,
  ) {}
  async syncMsg(req: { cursor?: string }): Promise<SyncMsgResponse> {
    this.cursors.push(req.cursor);
    this.onCall(this.cursors.length);
    return this.pages[Math.min(this.cursors.length, this.pages.length) - 1]!;
  }
}

function page(nextCursor: string, hasMore: 0 | 1, msgids: string[] = []): SyncMsgResponse {
  return { errcode: 0, errmsg: 'ok', next_cursor: nextCursor, has_more: hasMore, msg_list: msgids.map(message) } as SyncMsgResponse;
}

function harness(source: SyncSource, waits: number[], onWait: () => void = () => undefined) {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const metrics = createMetrics('sync-stuck');
  const delivered: string[] = [];
  const loop = new SyncLoop({
    openKfid: OPEN_KFID,
    source,
    coordinator: new MemorySyncCoordinator(),
    sink: async (m) => {
      delivered.push(m.msgid);
    },
    logger,
    metrics,
    pollIntervalMs: 3_600_000,
    stuckDelayMs: 1_000,
    stuckMaxDelayMs: 8_000,
    random: () => 0.5,
    sleep: async (ms) => {
      waits.push(ms);
      onWait();
    },
  });
  return { loop, lines, metrics, delivered };
}

describe('sync loop: WeCom says has_more but the cursor does not move', () => {
  it('backs off (doubling, jittered, bounded) instead of asking again at once, then carries on when the cursor moves', async () => {
    const waits: number[] = [];
    const source = new ScriptedSource([
      page('c1', 1, ['m1']),
      page('c1', 1),
      page('c1', 1),
      page('c1', 1),
      page('c1', 1),
      page('c1', 1),
      page('c2', 0, ['m2']),
    ]);
    const { loop, lines, metrics, delivered } = harness(source, waits);
    await loop.notify(null);
    await loop.idle();
    await loop.close();

    expect(delivered).toEqual(['m1', 'm2']);
    // The first page moved the cursor (no wait); the next five did not, the seventh moved it again.
    // Steps 1, 2, 4, 8, 8 s (capped), each with jitter between half and all of the step (here 3/4 of it).
    expect(waits).toEqual([750, 1_500, 3_000, 6_000, 6_000]);
    expect((await metrics.syncCursorStuck.get()).values[0]?.value).toBe(5);
    const warned = lines.filter((l) => l.msg === 'WeCom says has_more but the cursor does not move; backing off');
    expect(warned).toHaveLength(1);
    expect(source.cursors).toEqual([undefined, 'c1', 'c1', 'c1', 'c1', 'c1', 'c1']);
  });

  it('treats has_more with no cursor at all as stuck too, and a close cuts the back-off short', async () => {
    const waits: number[] = [];
    let loopRef: SyncLoop | undefined;
    // Should the loop ask again without waiting, stop it after 50 pages rather than let it spin forever.
    const source = new ScriptedSource([page('', 1)], (n) => {
      if (n > 50) void loopRef!.close();
    });
    const { loop } = harness(source, waits, () => {
      if (waits.length === 4) void loopRef!.close();
    });
    loopRef = loop;
    await loop.notify(null);
    await loop.idle();
    await loop.close();
    expect(waits.length).toBe(4);
    expect(waits.every((w) => w >= 500 && w <= 8_000)).toBe(true);
    expect(source.cursors.length).toBe(4);
  });

  it('keeps the jitter within half to all of each step', async () => {
    for (const r of [0, 0.999]) {
      const waits: number[] = [];
      const source = new ScriptedSource([page('c1', 1), page('c1', 1), page('c2', 0)]);
      const lines: Array<Record<string, unknown>> = [];
      const loop = new SyncLoop({
        openKfid: OPEN_KFID,
        source,
        coordinator: new MemorySyncCoordinator(),
        sink: async () => undefined,
        logger: pino({ level: 'silent' }, { write: (l: string) => void lines.push(JSON.parse(l)) }),
        metrics: createMetrics('sync-jitter'),
        pollIntervalMs: 3_600_000,
        random: () => r,
        sleep: async (ms) => void waits.push(ms),
      });
      await loop.notify(null);
      await loop.idle();
      await loop.close();
      expect(waits).toHaveLength(1);
      expect(waits[0]).toBeGreaterThanOrEqual(500);
      expect(waits[0]).toBeLessThanOrEqual(1_000);
    }
  });
});

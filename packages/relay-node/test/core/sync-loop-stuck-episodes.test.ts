import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { KfMessage, SyncMsgResponse } from '@wecom-relay/shared';
import { SyncLoop, type SyncSource } from '../../src/inbound/sync-loop.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { MemorySyncCoordinator } from '../../src/state/memory/index.js';

const OPEN_KFID = 'wk-episodes';

function message(msgid: string): KfMessage {
  return { msgid, open_kfid: OPEN_KFID, external_userid: 'wm-user', send_time: 1_700_000_000, origin: 3, msgtype: 'text', text: { content: msgid } } as KfMessage;
}

function page(nextCursor: string, hasMore: 0 | 1, msgids: string[] = []): SyncMsgResponse {
  return { errcode: 0, errmsg: 'ok', next_cursor: nextCursor, has_more: hasMore, msg_list: msgids.map(message) } as SyncMsgResponse;
}

/** WeCom scripted page by page; past the script it answers an empty last page. */
class ScriptedSource implements SyncSource {
  calls = 0;
  constructor(private readonly pages: SyncMsgResponse[]) {}
  async syncMsg(): Promise<SyncMsgResponse> {
    return this.pages[this.calls++] ?? page('end', 0);
  }
}

function loopOver(pages: SyncMsgResponse[], extra: { sleep?: (ms: number) => Promise<void>; now?: () => number; stuckDelayMs?: number } = {}) {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const metrics = createMetrics('sync-episodes');
  const delivered: string[] = [];
  const loop = new SyncLoop({
    openKfid: OPEN_KFID,
    source: new ScriptedSource(pages),
    coordinator: new MemorySyncCoordinator(),
    sink: async (m) => void delivered.push(m.msgid),
    logger,
    metrics,
    pollIntervalMs: 3_600_000,
    stuckDelayMs: extra.stuckDelayMs ?? 1_000,
    stuckMaxDelayMs: 8_000,
    random: () => 0.5,
    ...(extra.sleep ? { sleep: extra.sleep } : {}),
    ...(extra.now ? { now: extra.now } : {}),
  });
  return { loop, lines, metrics, delivered };
}

describe('sync loop: episodes of a cursor that does not move', () => {
  it('a moving cursor ends the episode: it is logged with its length, and the next episode backs off from the first step again', async () => {
    const waits: number[] = [];
    const { loop, lines, delivered } = loopOver(
      [page('c1', 1, ['m1']), page('c1', 1), page('c1', 1), page('c2', 1, ['m2']), page('c2', 1), page('c3', 0, ['m3'])],
      { sleep: async (ms) => void waits.push(ms) },
    );
    await loop.notify(null);
    await loop.idle();
    await loop.close();
    expect(delivered).toEqual(['m1', 'm2', 'm3']);
    expect(waits).toEqual([750, 1_500, 750]);
    const stuck = lines.filter((l) => l.msg === 'WeCom says has_more but the cursor does not move; backing off');
    expect(stuck.map((l) => [l.level, l.cursor])).toEqual([
      [40, 'c1'],
      [40, 'c2'],
    ]);
    const moves = lines.filter((l) => l.msg === 'sync cursor moves again');
    expect(moves.map((l) => [l.level, l.pages])).toEqual([
      [30, 2],
      [30, 1],
    ]);
  });

  it('pages that move the cursor log nothing about moving again', async () => {
    const { loop, lines } = loopOver([page('c1', 1, ['m1']), page('c2', 1, ['m2']), page('c3', 0)], { sleep: async () => undefined });
    await loop.notify(null);
    await loop.idle();
    await loop.close();
    expect(lines.filter((l) => l.msg === 'sync cursor moves again')).toEqual([]);
  });

  it('without an injected sleep, backs off on a real timer and carries on', async () => {
    const { loop, delivered } = loopOver([page('c1', 1, ['m1']), page('c1', 1), page('c2', 0, ['m2'])], { stuckDelayMs: 2 });
    await loop.notify(null);
    await loop.idle();
    await loop.close();
    expect(delivered).toEqual(['m1', 'm2']);
  });

  it('records the time of the last complete pull, in seconds, only when a pull completed', async () => {
    const { loop, metrics } = loopOver([page('c1', 0, ['m1'])], { now: () => 1_700_000_123_000 });
    await loop.notify(null);
    await loop.idle();
    await loop.close();
    const { values } = await metrics.syncLastSuccess.get();
    expect(values.map((v) => [v.labels.open_kfid, v.value])).toEqual([[OPEN_KFID, 1_700_000_123]]);
  });
});

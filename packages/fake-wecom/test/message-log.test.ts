import { describe, expect, it } from 'vitest';
import { FakeClock } from '../src/clock.js';
import { KfMessageLog, type KfLogMessage, type SyncPage } from '../src/message-log.js';

const NOW = 1_700_000_000_000;
const DAY_S = 24 * 3600;

function message(msgid: string, sendTime: number): KfLogMessage {
  return { msgid, send_time: sendTime, origin: 3, msgtype: 'text' };
}

/** Pages through one account's messages; returns each page's msgids and has_more. */
function pages(log: KfMessageLog, openKfid: string, limit: number): Array<[string[], boolean]> {
  const out: Array<[string[], boolean]> = [];
  let cursor: string | null = null;
  for (;;) {
    const page: SyncPage = log.page(openKfid, cursor, limit)!;
    out.push([page.msgList.map((m) => m.msgid), page.hasMore]);
    cursor = page.nextCursor;
    if (!page.hasMore) return out;
  }
}

describe('KfMessageLog', () => {
  it("pages one account's last 3 days in order from any cursor, past other accounts' and older messages", () => {
    const log = new KfMessageLog(new FakeClock(() => NOW), 'key', 'wk-a');
    const recent = NOW / 1000 - 60;
    for (let i = 0; i < 12; i++) {
      log.append('wk-a', message(`a${i}`, i === 4 || i === 5 ? recent - 4 * DAY_S : recent));
      log.append('wk-b', message(`b${i}`, recent));
    }
    // Ten of account a's twelve are within 3 days: pages of 5 end exactly at the tenth, with nothing more.
    expect(pages(log, 'wk-a', 5)).toEqual([
      [['a0', 'a1', 'a2', 'a3', 'a6'], true],
      [['a7', 'a8', 'a9', 'a10', 'a11'], false],
    ]);
    expect(pages(log, 'wk-a', 4)).toEqual([
      [['a0', 'a1', 'a2', 'a3'], true],
      [['a6', 'a7', 'a8', 'a9'], true],
      [['a10', 'a11'], false],
    ]);
    expect(pages(log, 'wk-b', 7).flatMap(([ids]) => ids)).toEqual(Array.from({ length: 12 }, (_, i) => `b${i}`));
    // The last cursor resumes after everything; a message appended later comes next, alone.
    const end = log.page('wk-a', log.page('wk-a', null, 1000)!.nextCursor, 10)!;
    expect(end.msgList).toEqual([]);
    log.append('wk-a', message('a12', recent));
    log.append('wk-b', message('b12', recent));
    expect(log.page('wk-a', end.nextCursor, 10)!.msgList.map((m) => m.msgid)).toEqual(['a12']);
  });
});

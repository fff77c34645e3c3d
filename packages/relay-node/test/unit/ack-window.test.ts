/** The ack window of an ack-mode gateway: what it holds, and what a redeliver rewinds it to. */
import { describe, expect, it } from 'vitest';
import { AckWindow } from '../../src/delivery/ack-window.js';

function windowOf(ids: string[]): AckWindow {
  const w = new AckWindow();
  for (const [i, id] of ids.entries()) w.pass(id, false, 1_000 + i);
  return w;
}

describe('AckWindow', () => {
  it('holds exactly the ids passed and not yet confirmed', () => {
    const w = windowOf(['1', '2', '3']);
    expect(['0', '1', '2', '3', '4'].map((id) => w.holds(id))).toEqual([false, true, true, true, false]);
    expect(w.confirm('2')).toEqual({ upTo: '2', prev: null });
    expect(['1', '2', '3'].map((id) => w.holds(id))).toEqual([false, false, true]);
    expect(new AckWindow().holds('1')).toBe(false);
  });

  it('rewinding to an unconfirmed id keeps it and what came before it, and forgets what came after', () => {
    const w = windowOf(['1', '2', '3', '4']);
    w.rewindTo('2');
    expect(w.length).toBe(2);
    expect(['1', '2', '3', '4'].map((id) => w.holds(id))).toEqual([true, true, false, false]);
    expect(w.oldestEnqueuedAt).toBe(1_000);
  });

  it('rewinding to the first id keeps only it; to an id not held, or to null, forgets everything', () => {
    const first = windowOf(['1', '2']);
    first.rewindTo('1');
    expect(first.length).toBe(1);
    const elsewhere = windowOf(['1', '2']);
    elsewhere.rewindTo('9');
    expect(elsewhere.length).toBe(0);
    expect(elsewhere.oldestEnqueuedAt).toBeNull();
    const none = windowOf(['1', '2']);
    none.rewindTo(null);
    expect(none.length).toBe(0);
  });

  it('names the id read before an acknowledgement only when the acknowledgement covers one item alone', () => {
    const w = new AckWindow();
    expect(w.pass('1', false, 1_000, null)).toBeNull();
    expect(w.pass('2', false, 1_001, '1')).toBeNull();
    expect(w.pass('3', false, 1_002, '2')).toBeNull();
    expect(w.pass('4', true, 1_003, '3')).toBeNull();
    expect(w.pass('5', false, 1_004, '4')).toBeNull();
    // One item: the id read before it.
    expect(w.confirm('1')).toEqual({ upTo: '1', prev: null });
    expect(w.confirm('2')).toEqual({ upTo: '2', prev: '1' });
    // The skipped item behind it goes along: two items, so no id before them counts.
    expect(w.confirm('3')).toEqual({ upTo: '4', prev: null });
    expect(w.confirm('5')).toEqual({ upTo: '5', prev: '4' });
    // Several at once (cumulative), and a skipped item with nothing unconfirmed before it.
    for (const [i, id] of ['6', '7', '8'].entries()) w.pass(id, false, 1_005 + i, String(5 + i));
    expect(w.confirm('8')).toEqual({ upTo: '8', prev: null });
    expect(w.pass('9', true, 1_010, '8')).toEqual({ upTo: '9', prev: '8' });
  });
});

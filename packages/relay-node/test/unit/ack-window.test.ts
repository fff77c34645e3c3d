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
    expect(w.confirm('2')).toBe('2');
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
});

import { describe, expect, it } from 'vitest';
import { chunkByUser } from '../../src/state/user-chunks.js';

describe('chunkByUser', () => {
  const items = (spec: string) => spec.split(' ').map((s, i) => ({ user: s, i }));
  const shape = (chunks: Array<Array<{ user: string; i: number }>>) => chunks.map((c) => c.map((x) => `${x.user}${x.i}`).join(' '));

  it("puts each user's items in the chunk of the user's first, in order, and opens a chunk once the last holds its size", () => {
    // Sizes 2, 4, ...: a's later items join the first chunk wherever they fall.
    const chunks = chunkByUser(items('a b a c d a e f g'), (x) => x.user, (n) => 2 * 2 ** n);
    expect(shape(chunks)).toEqual(['a0 b1 a2 a5', 'c3 d4 e6 f7', 'g8']);
  });

  it('keeps every item once and makes no empty chunk', () => {
    expect(chunkByUser([], (x: { user: string }) => x.user, () => 3)).toEqual([]);
    const many = items(Array.from({ length: 600 }, (_, i) => `u${i % 7}`).join(' '));
    const chunks = chunkByUser(many, (x) => x.user, () => 256);
    expect(chunks.flat().map((x) => x.i).sort((a, b) => a - b)).toEqual(many.map((x) => x.i));
    // 7 users, all in the first chunk (it held fewer than 256 items whenever a new user came).
    expect(chunks).toHaveLength(1);
  });
});

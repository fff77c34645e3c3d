import { describe, expect, it } from 'vitest';
import { TickBatch } from '../../src/state/redis/tick-batch.js';

describe('TickBatch', () => {
  it('runs the calls of one turn as one batch and answers each caller in order', async () => {
    const batches: number[][] = [];
    const batch = new TickBatch<number, string>(async (inputs) => {
      batches.push(inputs);
      return inputs.map((n) => `#${n}`);
    });
    const answers = await Promise.all([1, 2, 3].map((n) => batch.add(n)));
    expect(answers).toEqual(['#1', '#2', '#3']);
    expect(batches).toEqual([[1, 2, 3]]);
    // Calls made by the continuations of a batch's answers form the next batch together.
    const again = await Promise.all([4, 5].map(async (n) => batch.add(Number((await batch.add(n)).slice(1)) * 10)));
    expect(again).toEqual(['#40', '#50']);
    expect(batches.slice(1)).toEqual([[4, 5], [40, 50]]);
  });

  it('never puts more than maxItems calls in one batch', async () => {
    const sizes: number[] = [];
    const batch = new TickBatch<number, number>(async (inputs) => {
      sizes.push(inputs.length);
      return inputs;
    }, 4);
    expect(await Promise.all(Array.from({ length: 10 }, (_, i) => batch.add(i)))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(sizes).toEqual([4, 4, 2]);
  });

  it('a failed batch rejects every call in it, and the next batch runs normally', async () => {
    let fail = true;
    const batch = new TickBatch<number, number>(async (inputs) => {
      if (fail) throw new Error('server gone');
      return inputs;
    });
    const results = await Promise.allSettled([batch.add(1), batch.add(2)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    expect(await batch.add(3)).toBe(3);
  });

  it('a batch answered with the wrong number of results rejects every call rather than answer one with another’s', async () => {
    const batch = new TickBatch<number, number>(async (inputs) => inputs.slice(1));
    const results = await Promise.allSettled([batch.add(1), batch.add(2)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });

  it('a batch function that throws synchronously rejects its calls instead of throwing at the caller', async () => {
    const batch = new TickBatch<number, number>(() => {
      throw new Error('bad arguments');
    });
    await expect(batch.add(1)).rejects.toThrow('bad arguments');
  });
});

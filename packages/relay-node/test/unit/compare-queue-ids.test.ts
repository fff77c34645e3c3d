import { describe, expect, it } from 'vitest';
import { compareQueueIds } from '../../src/state/delivery-queue.js';

describe('compareQueueIds', () => {
  it('orders stream ids by milliseconds, then sequence, as whole numbers of any size', () => {
    expect(compareQueueIds('1700000000000-0', '1700000000000-1')).toBe(-1);
    expect(compareQueueIds('1700000000001-0', '1700000000000-9')).toBe(1);
    expect(compareQueueIds('9-5', '10-0')).toBe(-1);
    expect(compareQueueIds('10-0', '9-5')).toBe(1);
    expect(compareQueueIds('5-10', '5-9')).toBe(1);
    expect(compareQueueIds('18446744073709551615-18446744073709551614', '18446744073709551615-18446744073709551615')).toBe(-1);
    expect(compareQueueIds('18446744073709551615-7', '18446744073709551615-7')).toBe(0);
  });

  it('orders plain sequences, and a plain id before the same milliseconds with a sequence', () => {
    expect(compareQueueIds('45', '123')).toBe(-1);
    expect(compareQueueIds('123', '122')).toBe(1);
    expect(compareQueueIds('7', '7')).toBe(0);
    expect(compareQueueIds('5', '5-0')).toBe(-1);
    expect(compareQueueIds('5-0', '5')).toBe(1);
  });

  it('is a consistent order over a shuffled set', () => {
    const ids = ['0-1', '1-0', '1-2', '1-10', '2-0', '10-0', '99-99', '100-0', '1000000000000000000-0'];
    const shuffled = [...ids].reverse();
    shuffled.push(shuffled.shift()!);
    expect(shuffled.sort(compareQueueIds)).toEqual(ids);
  });
});

import { describe, expect, it } from 'vitest';
import { StreamTails } from '../../src/state/redis/stream-tails.js';

describe('StreamTails', () => {
  it("knows each gateway's last appended id, '' for one it never appended to", () => {
    const tails = new StreamTails();
    expect(tails.known('gw-1')).toBe('');
    tails.appended('gw-1', '1-0');
    tails.appended('gw-1', '2-0');
    expect(tails.known('gw-1')).toBe('2-0');
  });

  it('forgets the gateway appended to longest ago once it holds more than its most', () => {
    const tails = new StreamTails(2);
    tails.appended('gw-1', '1-0');
    tails.appended('gw-2', '2-0');
    tails.appended('gw-1', '3-0');
    tails.appended('gw-3', '4-0');
    expect(tails.size).toBe(2);
    expect([tails.known('gw-1'), tails.known('gw-2'), tails.known('gw-3')]).toEqual(['3-0', '', '4-0']);
  });
});

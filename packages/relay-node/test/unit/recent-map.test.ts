import { describe, expect, it } from 'vitest';
import { RecentMap } from '../../src/util/recent-map.js';

describe('RecentMap', () => {
  it('gives the value last set for a key, and nothing for a key never set or forgotten', () => {
    const map = new RecentMap<string, string>(4);
    map.set('gw-1', '1-0');
    map.set('gw-1', '2-0');
    map.set('gw-2', '3-0');
    map.delete('gw-2');
    expect([map.get('gw-1'), map.get('gw-2'), map.get('gw-3')]).toEqual(['2-0', undefined, undefined]);
    expect(map.size).toBe(1);
  });

  it('drops the key set longest ago once a set makes one too many, a key set again counting as new', () => {
    const map = new RecentMap<string, string>(2);
    map.set('gw-1', '1-0');
    map.set('gw-2', '2-0');
    map.set('gw-1', '3-0');
    map.set('gw-3', '4-0');
    expect(map.size).toBe(2);
    expect([map.get('gw-1'), map.get('gw-2'), map.get('gw-3')]).toEqual(['3-0', undefined, '4-0']);
    // Forgotten after the drop: what is left counts on.
    map.delete('gw-1');
    expect(map.get('gw-1')).toBeUndefined();
    expect(map.size).toBe(1);
  });
});

import type { GatewayFeature } from '@wecom-relay/shared';
import { describe, expect, it } from 'vitest';
import { sharedFeatureList } from '../../src/gateway/feature-lists.js';

describe('sharedFeatureList', () => {
  it('gives sessions with the same hello features one shared list, in the order and with the names sent', () => {
    const a = sharedFeatureList(['send_failed', 'rich_inbound']);
    const b = sharedFeatureList(['send_failed', 'rich_inbound']);
    expect(b).toBe(a);
    expect(a).toEqual(['send_failed', 'rich_inbound']);
    expect(Object.isFrozen(a)).toBe(true);
    expect(sharedFeatureList(['rich_inbound', 'send_failed'])).toEqual(['rich_inbound', 'send_failed']);
    expect(sharedFeatureList([])).toEqual([]);
  });

  it('stops sharing past a bound rather than growing with every distinct list a hello can spell', () => {
    const names: GatewayFeature[] = ['send_failed', 'rich_inbound', 'session_events'];
    // More distinct lists than the cache keeps: the base-3 digits of i, each digit a name.
    for (let i = 0; i < 600; i++) sharedFeatureList([...i.toString(3)].map((d) => names[Number(d)]!));
    const late = Array.from({ length: 45 }, () => 'send_failed' as const);
    expect(sharedFeatureList(late)).toBe(late);
  });
});

import type { GatewayFeature } from '@wecom-relay/shared';

/** Distinct lists kept; past this a list is used as it came (a hostile hello cannot grow the cache). */
const MAX_LISTS = 256;

const lists = new Map<string, readonly GatewayFeature[]>();

/**
 * One shared, frozen copy of each distinct hello feature list. Every session holds its list for life, and gateways
 * of one deployment send the same few lists, so thousands of idle sessions share a handful of arrays instead of
 * each keeping its own array and copies of the names.
 */
export function sharedFeatureList(features: readonly GatewayFeature[]): readonly GatewayFeature[] {
  const key = features.join(',');
  const known = lists.get(key);
  if (known !== undefined) return known;
  if (lists.size >= MAX_LISTS) return features;
  const list = Object.freeze([...features]);
  lists.set(key, list);
  return list;
}

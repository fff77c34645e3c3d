/** A message's latency from served and arrival records: page served by the fake WeCom → frame at a gateway driver. */

/** Frames the drivers received: the message id of each and when (ms, sub-millisecond). */
export interface Arrivals {
  ids: string[];
  at: number[];
}

/** Each arrival's latency, sorted: from its page being served to its frame at the gateway. */
export function latenciesOf(arrivals: Arrivals, served: Record<string, number>): number[] {
  const latencies: number[] = [];
  arrivals.ids.forEach((id, i) => {
    const s = served[id];
    if (s !== undefined) latencies.push(arrivals.at[i]! - s);
  });
  return latencies.sort((a, b) => a - b);
}

/**
 * Per page (the messages the fake WeCom served in one millisecond: one sync_msg answer), sorted: the latency of its first
 * frame at any gateway, and the time from that frame to its last. The first is what the hops from page to socket cost;
 * the second what writing a page's frames to its gateways (and the gateways reading them) takes once they begin.
 */
export function pageLatenciesOf(arrivals: Arrivals, served: Record<string, number>): { first: number[]; spread: number[] } {
  const pages = new Map<number, { first: number; last: number }>();
  arrivals.ids.forEach((id, i) => {
    const s = served[id];
    if (s === undefined) return;
    const at = arrivals.at[i]!;
    const page = pages.get(s);
    if (!page) pages.set(s, { first: at, last: at });
    else {
      page.first = Math.min(page.first, at);
      page.last = Math.max(page.last, at);
    }
  });
  const first: number[] = [];
  const spread: number[] = [];
  for (const [s, page] of pages) {
    first.push(page.first - s);
    spread.push(page.last - page.first);
  }
  const ascending = (a: number, b: number) => a - b;
  return { first: first.sort(ascending), spread: spread.sort(ascending) };
}

import { GatewayClientError, type GatewayClient, type WireFrame } from '@wecom-relay/gateway-client';

/** How the relay answered one reply of a flood. */
export type FloodAnswer =
  | { id: string; kind: 'ack'; frame: WireFrame }
  | { id: string; kind: 'error'; frame: WireFrame }
  /** No answer at all (timeout, socket gone): what the relay must never do. */
  | { id: string; kind: 'none'; reason: string };

/** Writes `count` replies to one customer back to back without waiting, then collects every answer. */
export async function fireReplies(gateway: GatewayClient, user: string, count: number, idPrefix: string): Promise<FloodAnswer[]> {
  const requests = Array.from({ length: count }, (_, i) => {
    const id = `${idPrefix}-${i}`;
    return gateway.reply(user, `flood reply ${i}`, id).then(
      (frame): FloodAnswer => ({ id, kind: 'ack', frame }),
      (err: unknown): FloodAnswer =>
        err instanceof GatewayClientError && err.frame
          ? { id, kind: 'error', frame: err.frame }
          : { id, kind: 'none', reason: String(err) },
    );
  });
  return Promise.all(requests);
}

/** Sum of a Prometheus counter's samples on a node's /metrics whose labels include `labels`. */
export async function scrapeCounter(httpUrl: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const sample = match[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => sample.includes(`${k}="${v}"`))) sum += Number(match[3]);
  }
  return sum;
}

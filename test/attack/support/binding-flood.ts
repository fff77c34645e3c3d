import { baseType, type GatewayClient, type WireFrame } from '@wecom-relay/gateway-client';
import { openSqliteDatabase } from '@wecom-relay/relay-node';
import type { Redis } from 'ioredis';
import { eventually } from '../../e2e/support/eventually.js';

/** What a gateway got back for a burst of create_binding frames. */
export interface FloodResult {
  sent: number;
  acks: WireFrame[];
  errors: WireFrame[];
  /** Distinct tokens among the acks. */
  tokens: Set<string>;
}

/** Writes `count` create_binding frames as fast as the socket takes them, then waits for one answer to each. */
export async function floodCreateBinding(gw: GatewayClient, count: number): Promise<FloodResult> {
  const from = gw.received.length;
  for (let i = 0; i < count; i++) gw.sendFrame({ type: 'create_binding', gateway_id: gw.gatewayId });
  const answers = await eventually(
    () => {
      const got = gw.received.slice(from).filter((f) => ['create_binding_ack', 'error'].includes(baseType(f.type)));
      if (got.length < count) throw new Error(`${got.length} of ${count} create_binding answers so far`);
      return got;
    },
    120_000,
    200,
  );
  const acks = answers.filter((f) => baseType(f.type) === 'create_binding_ack');
  return { sent: count, acks, errors: answers.filter((f) => baseType(f.type) === 'error'), tokens: new Set(acks.map((f) => String(f.token))) };
}

/** How many error frames carry each code. */
export function errorCodes(errors: WireFrame[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of errors) out[String(e.code)] = (out[String(e.code)] ?? 0) + 1;
  return out;
}

/** Live binding tokens a gateway holds in Redis: token keys under the relay's prefix whose value is the gateway. */
export async function liveTokensInRedis(redis: Redis, prefix: string, gatewayId: string): Promise<number> {
  let cursor = '0';
  let live = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}{binding-tokens}:token:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length === 0) continue;
    const owners = await redis.mget(...keys);
    live += owners.filter((owner) => owner === gatewayId).length;
  } while (cursor !== '0');
  return live;
}

/** Live binding tokens a gateway holds in a node's SQLite file (opened beside the running node; WAL allows it). */
export function liveTokensInSqlite(databasePath: string, gatewayId: string): number {
  const db = openSqliteDatabase(databasePath);
  try {
    const row = db
      .prepare('SELECT count(*) AS n FROM pending_bindings WHERE gateway_id = ? AND expires_at > ?')
      .get(gatewayId, Date.now()) as { n: number };
    return row.n;
  } finally {
    db.close();
  }
}

/** Resident memory of the node process, from its /metrics. */
export async function nodeRssBytes(metricsUrl: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  const line = text.split('\n').find((l) => !l.startsWith('#') && l.includes('resident_memory_bytes'));
  return line ? Number(line.trim().split(/\s+/).at(-1)) : Number.NaN;
}

/** A counter's value from /metrics, summed over the series whose labels include all of `labels`. */
export async function metricValue(metricsUrl: string, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.trim().split(/\s+/).at(-1));
  }
  return sum;
}

/** /healthz and /readyz status codes. */
export async function health(httpUrl: string): Promise<{ healthz: number; readyz: number }> {
  const [h, r] = await Promise.all([fetch(`${httpUrl}/healthz`), fetch(`${httpUrl}/readyz`)]);
  await Promise.all([h.arrayBuffer(), r.arrayBuffer()]);
  return { healthz: h.status, readyz: r.status };
}

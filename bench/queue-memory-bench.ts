/**
 * Redis memory per message: appends N inbound text events (spread over G gateways, each with its routing decision, as
 * a node on one Redis server records them: decided and queued in one step) to a fresh redis-server and reports
 * used_memory per event while queued, and what stays per message once every gateway acknowledged it. `--apart`: decided
 * and queued apart, each append with its msgid dedup marker, as on a Redis Cluster. For sizing (README "How much
 * Redis memory").
 *   pnpm tsx bench/queue-memory-bench.ts [--events 10000] [--gateways 200] [--chars 60] [--rate 100] [--apart] [--unpacked]
 */
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import type { QueuedEvent } from '@wecom-relay/shared';
import { RedisDedupStore, RedisDeliveryQueue, RedisOutboundLedger, RedisPresenceMap, RedisRouteAppender } from '@wecom-relay/relay-node';
import { startRedis } from '@wecom-relay/testkit';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    events: { type: 'string', default: '10000' },
    gateways: { type: 'string', default: '200' },
    chars: { type: 'string', default: '60' },
    // Messages per second of WeCom send_time, which places the packed records.
    rate: { type: 'string', default: '100' },
    // Decide and append apart, with a dedup marker per append (a Redis Cluster's way).
    apart: { type: 'boolean', default: false },
    // Record each message one key at a time, as relays before packing did (implies --apart).
    unpacked: { type: 'boolean', default: false },
  },
});
const events = Number(values.events);
const gateways = Number(values.gateways);
const server = await startRedis();
const redis = new Redis(server.url);
try {
  const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
  const queue = new RedisDeliveryQueue({ redis, prefix: 'wr:' });
  const dedup = new RedisDedupStore({ redis, prefix: 'wr:' });
  const appender = new RedisRouteAppender({
    redis,
    dedup,
    queue,
    presence: new RedisPresenceMap({ redis, prefix: 'wr:' }),
    ledger: new RedisOutboundLedger({ redis, prefix: 'wr:' }),
  });
  const apart = values.apart || values.unpacked;
  const before = await usedMemory();
  const lastId = new Map<string, string>();
  let sample = '';
  for (let i = 0; i < events; i++) {
    // WeCom's msgids look like this one from its documentation: from_msgid_4622416642169452483.
    const msgid = `from_msgid_${4622416642169452483n + BigInt(i)}`;
    const gatewayId = `gateway-${i % gateways}`;
    const event = {
      type: 'inbound',
      id: msgid,
      externalUserId: `wmAJ2GCAAAme1XQRC-NI-q0_ZM9ukoA${i % 1000}`,
      msgType: 'text',
      content: 'x'.repeat(Number(values.chars)),
      timestamp: 1_700_000_000 + i,
      wecomMsgType: 'text',
    } as QueuedEvent;
    const at = 1_700_000_000 + Math.floor(i / Number(values.rate));
    const placement = values.unpacked ? undefined : { at };
    let id: string | null;
    if (apart) {
      await dedup.decide(`r:${msgid}`, `>${gatewayId}`, 4 * 24 * 3600_000, placement);
      id = await queue.append(gatewayId, event, { dedupKey: msgid, ...(placement ? { dedupAt: at } : {}) });
    } else {
      const [result] = await appender.decideAndAppend([{ key: `r:${msgid}`, placement: { at }, userId: event.externalUserId, gatewayId, event, dedupKey: msgid }], 4 * 24 * 3600_000);
      id = result!.id;
    }
    if (id) lastId.set(gatewayId, id);
    sample = msgid;
  }
  const queued = await usedMemory();
  for (const [gatewayId, id] of lastId) await queue.ack(gatewayId, id);
  const delivered = await usedMemory();
  const per = (bytes: number) => Math.round(bytes / events);
  console.log(`${events} messages (${values.chars}-character texts) over ${gateways} gateways, ${values.rate}/s, ${values.unpacked ? 'one key per record' : 'packed records'}, ${apart ? 'decided and queued apart' : 'decided and queued in one step'}:`);
  console.log(`  queued:    ${per(queued - before)} bytes per message (stream entry + routing decision${apart ? ' + dedup marker' : ''})`);
  console.log(`  delivered: ${per(delivered - before)} bytes per message kept (routing decision${apart ? ' + dedup marker' : ''}; used_memory, including each gateway's emptied stream)`);
  if (values.unpacked) {
    console.log(
      `  MEMORY USAGE of one message's keys: routing decision ${await redis.memory('USAGE', `wr:dedup:r:${sample}`)} B, ` +
        `dedup marker ${await redis.memory('USAGE', `wr:{gw:gateway-${(events - 1) % gateways}}:dedup:${sample}`)} B`,
    );
  }
  console.log(`  per idle gateway (acked pointer, empty stream): ${await redis.memory('USAGE', 'wr:{gw:gateway-0}:acked')} B + ${await redis.memory('USAGE', 'wr:{gw:gateway-0}:queue')} B`);
} finally {
  await redis.quit();
  await server.stop();
}

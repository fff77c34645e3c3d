/**
 * Redis memory per queued event: appends N inbound text events (spread over G gateways, each with a msgid dedup key,
 * as the relay appends them) to a fresh redis-server and reports used_memory per event. For sizing (docs/operations.md).
 *   pnpm tsx bench/queue-memory-bench.ts [--events 20000] [--gateways 200] [--chars 60]
 */
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import type { QueuedEvent } from '@wecom-relay/shared';
import { RedisDeliveryQueue } from '@wecom-relay/relay-node';
import { startRedis } from '@wecom-relay/testkit';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: { events: { type: 'string', default: '20000' }, gateways: { type: 'string', default: '200' }, chars: { type: 'string', default: '60' } },
});
const events = Number(values.events);
const gateways = Number(values.gateways);
const server = await startRedis();
const redis = new Redis(server.url);
try {
  const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
  const queue = new RedisDeliveryQueue({ redis, prefix: 'bench:' });
  const before = await usedMemory();
  for (let i = 0; i < events; i++) {
    const msgid = `msg${String(i).padStart(12, '0')}AbCdEfGhIjKlMnOpQrStUv`;
    const event = {
      type: 'inbound',
      id: msgid,
      externalUserId: `wmAbCdEfGhIjKlMnOpQrStUvWxYz${i % 1000}`,
      msgType: 'text',
      content: 'x'.repeat(Number(values.chars)),
      timestamp: 1_700_000_000 + i,
      wecomMsgType: 'text',
    } as QueuedEvent;
    await queue.append(`gateway-${i % gateways}`, event, { dedupKey: msgid });
  }
  const after = await usedMemory();
  console.log(`${events} events (${values.chars}-character texts) over ${gateways} gateways: ${((after - before) / 1024 / 1024).toFixed(1)} MiB, ${Math.round((after - before) / events)} bytes per queued event (stream entry + dedup key)`);
} finally {
  await redis.quit();
  await server.stop();
}

import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, uniquePrefix, type RedisHandle } from '@wecom-relay/testkit';
import { RedisOutboundLedger, RedisReplyRecordStore } from '../../src/state/redis/index.js';
import { MemoryBindingStore } from '../../src/state/memory/index.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { ReplyService } from '../../src/outbound/reply-service.js';
import { Semaphore } from '../../src/util/semaphore.js';
import { WecomStub, text } from './reply-service-kit.js';

// Two nodes of one cluster: each its own Redis connection and WeCom client, one Redis server and prefix.
let server: RedisHandle;
const clients: Redis[] = [];

beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.quit()));
  await server?.stop();
});

async function cluster() {
  const prefix = uniquePrefix('replies-cluster');
  const bindings = new MemoryBindingStore();
  await bindings.bind('wm-alice', 'gw-1');
  const node = (nodeId: string) => {
    const redis = new Redis(server.url);
    clients.push(redis);
    const wecom = new WecomStub();
    const ledger = new RedisOutboundLedger({ redis, prefix });
    const service = new ReplyService({
      bindings,
      ledger,
      records: new RedisReplyRecordStore({ redis, prefix }),
      wecom,
      transfers: new Semaphore(2),
      openKfid: 'wk-test',
      nodeId,
      rateLimit: { perSecond: 1000, burst: 1000 },
      logger: pino({ level: 'silent' }),
      metrics: createMetrics(nodeId),
      // Generous, so a slow machine cannot turn the wait into REPLY_IN_PROGRESS.
      inFlightWaitMs: 60_000,
    });
    return { wecom, ledger, service };
  };
  return { a: node('node-a'), b: node('node-b') };
}

describe('ReplyService on Redis, two nodes', () => {
  it('replies to one customer spread over both nodes at once: at most 5 reach WeCom', async () => {
    const { a, b } = await cluster();
    await a.ledger.customerSpoke('wk-test', 'wm-alice', Date.now());
    const results = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).service.reply('gw-1', text(`r-${i}`, `answer ${i}`))),
    );
    expect(a.wecom.calls + b.wecom.calls).toBe(5);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
  });

  it('the same reply on both nodes at once is sent once, and both get the same outcome', async () => {
    const { a, b } = await cluster();
    await a.ledger.customerSpoke('wk-test', 'wm-alice', Date.now());
    const content = '重发的回复只发送一次。'.repeat(100); // 3,300 bytes: two parts
    a.wecom.hold();
    b.wecom.hold();
    const first = a.service.reply('gw-1', text('same', content));
    const second = b.service.reply('gw-1', text('same', content));
    // Whichever node claimed it holds its first part; the other waits for the outcome.
    while (a.wecom.waiting + b.wecom.waiting === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    a.wecom.release();
    b.wecom.release();
    const [x, y] = await Promise.all([first, second]);
    expect(y).toEqual(x);
    expect(x.msgids).toHaveLength(2);
    expect(a.wecom.calls + b.wecom.calls).toBe(2);
  });
});

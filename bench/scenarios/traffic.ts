/**
 * Routed traffic on 3 nodes: a burst (everything appended first, then one callback to every node: msg/s delivered and
 * CPU per message of every process) and a steady rate (latency from the fake WeCom serving the page to the gateway's
 * frame), then the same system's fixed costs (fixed-costs.ts). Message m goes to gateway m mod G, so every node pulls
 * for gateways on every node.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_ACK_DELAY_MS } from '@wecom-relay/gateway';
import { describePerMessage, diffCommandStats, systemCalls } from '../lib/redis-stats.js';
import { maxOf, minOf, percentile } from '../lib/figures.js';
import { latenciesOf, pageLatenciesOf } from '../lib/latencies.js';
import { startSystem, type BenchSystem, type SystemKind } from '../systems/bench-system.js';
import { cpuBetween, sample } from '../systems/measured.js';
import { cpuReadings, range, waitReceived, type Reading, type ScenarioContext } from './scenario-context.js';
import { CALLBACK_EVERY_MS, fixedCosts } from './fixed-costs.js';

/**
 * After the last frame, acknowledgements and trims still cost CPU; both systems get the same tail. The SDK gateways hold
 * their last acknowledgements back for up to DEFAULT_ACK_DELAY_MS: the tail outlasts that by a second, so every
 * acknowledgement's cost (the gateway's write, the node's read, the queue's write) is in the window.
 */
const TAIL_MS = DEFAULT_ACK_DELAY_MS + 1_000;
/** Redis's own background CPU is read over this quiet spell before the burst. */
const REST_MS = 2_000;

async function burst(ctx: ScenarioContext, system: BenchSystem, gateways: number): Promise<Reading[]> {
  const scenario = 'burst';
  const n = ctx.sizes.burstMessages;
  ctx.log(`  burst: appending ${n} messages to the fake WeCom`);
  await system.fake.append(range(n).map((m) => m % gateways));
  await system.drivers.drain();
  const rest0 = sample(system.targets);
  await sleep(REST_MS);
  const rest1 = sample(system.targets);
  const stats0 = await ctx.backend.commandStats();
  const reads0 = await ctx.backend.readsProcessed();
  const mem0 = await ctx.backend.usedMemory();
  const before = sample(system.targets);
  await system.fake.callback();
  const got = await waitReceived(system.drivers, n, 30_000 + n);
  await sleep(TAIL_MS);
  const after = sample(system.targets);
  const stats1 = await ctx.backend.commandStats();
  const reads1 = await ctx.backend.readsProcessed();
  const mem1 = await ctx.backend.usedMemory();
  const arrivals = await system.drivers.drain();
  const served = await system.fake.served();
  const firstServed = minOf(Object.values(served));
  const last = maxOf(arrivals.at);
  const unique = new Set(arrivals.ids).size;
  ctx.log(`  burst: ${unique}/${n} delivered (${got} frames)`);
  return [
    { scenario, metric: 'messages delivered', unit: '', value: unique, target: { on: 'value', bound: 'min', limit: n }, acrossRounds: 'worst' },
    {
      scenario,
      metric: 'throughput, msg/s delivered',
      unit: 'msg/s',
      value: unique > 0 ? (unique / Math.max(1, last - firstServed)) * 1000 : null,
      target: { on: 'ratio', bound: 'min', limit: 1 },
      note: 'first page served by the fake WeCom → last frame at a gateway',
    },
    ...cpuReadings(
      scenario,
      before,
      after,
      system.targets,
      ctx.backend,
      unique,
      { on: 'ratio', bound: 'max', limit: 1 },
      { on: 'ratio', bound: 'max', limit: 2 },
      describePerMessage(diffCommandStats(stats0, stats1), Math.max(1, unique)),
    ),
    { scenario, metric: 'Redis commands per message', unit: '', value: unique > 0 ? systemCalls(diffCommandStats(stats0, stats1)) / unique : null },
    roundTrips(scenario, reads1 - reads0, unique),
    {
      scenario,
      metric: 'Redis CPU at rest, just before the burst',
      unit: '% of a core',
      value: (cpuBetween(rest0, rest1, system.targets, (t) => t.role === 'redis') / ((rest1.at - rest0.at) * 1000)) * 100,
      note: 'every redis-server process; on a cluster this background (gossip, replication) is part of each per-message figure',
    },
    {
      scenario,
      metric: 'Redis memory kept per delivered message',
      unit: 'bytes',
      value: unique > 0 ? (mem1 - mem0) / unique : null,
      target: { on: 'value', bound: 'max', limit: 64 },
      note: `used_memory after the burst − before, ${TAIL_MS} ms after the last frame, without the replication backlog and replica buffers (rings of a fixed size)`,
    },
  ];
}

async function steady(ctx: ScenarioContext, system: BenchSystem, gateways: number): Promise<Reading[]> {
  const scenario = `steady ${ctx.sizes.steadyRate.toLocaleString('en-US')} msg/s`;
  const { steadyRate: rate, steadySeconds: seconds, steadyWarmupSeconds: warmupSeconds } = ctx.sizes;
  const total = rate * seconds;
  // The same traffic first, not counted (JIT, scripts loaded on first use, heaps growing to the load): the figures are
  // of the steady state. Its latency is printed beside them, unjudged, so the transient stays in view.
  const warmup = rate * warmupSeconds;
  const early: number[] = [];
  await system.drivers.drain();
  if (warmup > 0) {
    await sendAtRate(system, rate, warmup, 0, gateways);
    await waitReceived(system.drivers, warmup, 30_000);
    // Draining here also starts the measured window's count from nothing.
    early.push(...latenciesOf(await system.drivers.drain(), await system.fake.served()));
  }
  const stats0 = await ctx.backend.commandStats();
  const reads0 = await ctx.backend.readsProcessed();
  const before = sample(system.targets);
  const sendSeconds = await sendAtRate(system, rate, total, warmup, gateways);
  const got = await waitReceived(system.drivers, total, 30_000);
  await sleep(TAIL_MS);
  const after = sample(system.targets);
  const stats1 = await ctx.backend.commandStats();
  const reads1 = await ctx.backend.readsProcessed();
  const arrivals = await system.drivers.drain();
  const served = await system.fake.served();
  const latencies = latenciesOf(arrivals, served);
  const pages = pageLatenciesOf(arrivals, served);
  const unique = new Set(arrivals.ids).size;
  ctx.log(`  steady: ${unique}/${total} delivered (${got} frames) in ${sendSeconds.toFixed(1)} s of sending`);
  const latency = (metric: string, value: number, limit?: number): Reading => ({
    scenario,
    metric,
    unit: 'ms',
    value: latencies.length ? value : null,
    ...(limit !== undefined ? { target: { on: 'value' as const, bound: 'max' as const, limit } } : {}),
  });
  return [
    { scenario, metric: 'rate achieved, msg/s', unit: 'msg/s', value: unique / sendSeconds, note: `${total} messages over ${seconds} s` },
    { scenario, metric: 'messages delivered', unit: '', value: unique, target: { on: 'value', bound: 'min', limit: total }, acrossRounds: 'worst' },
    latency('latency p50', percentile(latencies, 50)),
    latency('latency p90', percentile(latencies, 90)),
    latency('latency p99', percentile(latencies, 99), 20),
    { ...latency('latency max', latencies.at(-1) ?? Number.NaN, 100), note: 'page served by the fake WeCom (ms clock) → frame at the gateway; ±1 ms', acrossRounds: 'worst' },
    ...pageReadings(scenario, pages),
    ...(early.length > 0
      ? [
          {
            scenario,
            metric: `latency p99 in the ${warmupSeconds} s of warm-up before`,
            unit: 'ms',
            value: percentile(early, 99),
            note: `the first ${warmup.toLocaleString('en-US')} messages at the rate, not counted in the figures above; max ${(early.at(-1) ?? Number.NaN).toFixed(1)} ms`,
          },
        ]
      : []),
    ...cpuReadings(
      scenario,
      before,
      after,
      system.targets,
      ctx.backend,
      unique,
      { on: 'ratio', bound: 'max', limit: 1 },
      { on: 'ratio', bound: 'max', limit: 2 },
      describePerMessage(diffCommandStats(stats0, stats1), Math.max(1, unique)),
    ),
    { scenario, metric: 'Redis commands per message', unit: '', value: unique > 0 ? systemCalls(diffCommandStats(stats0, stats1)) / unique : null },
    roundTrips(scenario, reads1 - reads0, unique),
  ];
}

/** Client round trips per message: what the commands-per-message row cannot show, since it counts scripts' own commands. */
function roundTrips(scenario: string, reads: number, messages: number): Reading {
  return {
    scenario,
    metric: 'Redis round trips per message',
    unit: '',
    value: messages > 0 ? reads / messages : null,
    note: 'INFO stats total_reads_processed, summed over the masters: one per read event on a client connection (commands that arrive together count once; the commands a script runs, none)',
  };
}

/**
 * Sends `count` messages at `rate` a second, message m (from `first`) to gateway m mod `gateways`: every 50 ms whatever
 * the rate says is due (a late tick catches up), then one callback, as WeCom sends them. Resolves to the seconds it took.
 */
async function sendAtRate(system: BenchSystem, rate: number, count: number, first: number, gateways: number): Promise<number> {
  const start = Date.now();
  let sent = 0;
  while (sent < count) {
    const due = Math.min(count, Math.floor(((Date.now() - start) / 1000) * rate));
    if (due > sent) {
      await system.fake.append(range(due - sent, first + sent).map((m) => m % gateways));
      sent = due;
      void system.fake.callback().catch(() => undefined);
    }
    await sleep(CALLBACK_EVERY_MS);
  }
  return (Date.now() - start) / 1000;
}

/** The latency split of {@link pageLatenciesOf}: p50 and p99 of each, unjudged. */
function pageReadings(scenario: string, pages: { first: number[]; spread: number[] }): Reading[] {
  const row = (metric: string, values: number[], p: number, note?: string): Reading => ({
    scenario,
    metric,
    unit: 'ms',
    value: values.length ? percentile(values, p) : null,
    ...(note ? { note } : {}),
  });
  const pagesNote = `${pages.first.length} pages (a page: the messages one sync_msg answer carried)`;
  return [
    row("a page's first frame p50", pages.first, 50, `${pagesNote}: page served → the first of its frames at any gateway`),
    row("a page's first frame p99", pages.first, 99),
    row("a page's frames, first to last p50", pages.spread, 50, `${pagesNote}: its first frame at a gateway → its last`),
    row("a page's frames, first to last p99", pages.spread, 99),
  ];
}

/** Fixed costs, burst and steady rate on one fresh 3-node system with `trafficGateways` gateways. */
export function trafficPhase(which: { fixed: boolean; burst: boolean; steady: boolean }) {
  return async (ctx: ScenarioContext, kind: SystemKind): Promise<Reading[]> => {
    const gateways = ctx.sizes.trafficGateways;
    const system = await startSystem(kind, { nodes: 3, maxGateways: gateways, backend: ctx.backend, scripts: ctx.scripts, delivery: ctx.delivery });
    try {
      ctx.log(`  connecting ${gateways} gateways`);
      await system.connect(range(gateways));
      await system.bind(range(gateways));
      const readings: Reading[] = [];
      if (which.burst) readings.push(...(await burst(ctx, system, gateways)));
      if (which.steady) readings.push(...(await steady(ctx, system, gateways)));
      // Last, so the burst and the steady rate run as they always did; every message is delivered by then, so the
      // callbacks announce nothing to pull, and the code they run is as warm as at the end of the steady rate.
      if (which.fixed) readings.push(...(await fixedCosts(ctx, system, kind)));
      return readings;
    } finally {
      await system.stop();
    }
  };
}

/**
 * Gateways at rest and a lost node, on one fresh 3-node system: node RSS before any gateway, RSS per authenticated
 * gateway at the small and the large count, then a reconnect storm: the node holding a third of them is SIGKILLed,
 * one message per gateway of that node is sent at once, and the bench waits until every one of them is served again.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { maxOf } from '../lib/figures.js';
import { startSystem, type BenchSystem, type SystemKind } from '../systems/bench-system.js';
import { sample } from '../systems/measured.js';
import { range, waitReceived, type Reading, type ScenarioContext } from './scenario-context.js';

const NODES = 3;
/** The longest a storm is watched. */
const STORM_DEADLINE_MS = 60_000;
/** With every gateway back, this long without a new frame ends the wait. */
const QUIET_MS = 10_000;

class QuietError extends Error {}
/** Let sockets, heaps and the kernel settle before reading RSS. */
const SETTLE_MS = 3_000;

function nodeRss(system: BenchSystem): number[] {
  const s = sample(system.targets);
  return system.targets.filter((t) => t.role === 'node').map((t) => s.usage.get(t.name)?.rssBytes ?? 0);
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

async function storm(ctx: ScenarioContext, system: BenchSystem, gateways: number): Promise<Reading[]> {
  const scenario = `reconnect storm (${Math.round(gateways / NODES).toLocaleString('en-US')} gateways on the lost node)`;
  const victim = NODES - 1;
  const affected = range(gateways).filter((i) => i % NODES === victim);
  await system.bind(affected);
  await system.drivers.drain();
  await system.drivers.mark();
  const t0 = Date.now();
  system.kill(victim);
  ctx.log(`  storm: node ${victim} killed, ${affected.length} gateways must move`);
  await system.fake.append(affected);
  await system.fake.callback().catch(() => undefined);
  let lastCallback = Date.now();
  let lastCount = 0;
  let lastProgress = Date.now();
  // WeCom sends a callback per message; one a second stands in for them while the survivors take over. Once every
  // dropped gateway is back, a quiet spell means the rest is lost (the peer keeps nothing for absent sockets).
  await waitReceived(system.drivers, affected.length, STORM_DEADLINE_MS, async () => {
    const { received } = await system.drivers.count();
    if (received > lastCount) {
      lastCount = received;
      lastProgress = Date.now();
    }
    const d = await system.drivers.dropped();
    if (d.dropped > 0 && d.reopened >= d.dropped && Date.now() - lastProgress > QUIET_MS) throw new QuietError();
    if (Date.now() - lastCallback < 1_000) return;
    lastCallback = Date.now();
    await system.fake.callback().catch(() => undefined);
  }).catch((err: unknown) => {
    if (!(err instanceof QuietError)) throw err;
  });
  const d = await system.drivers.dropped();
  const arrivals = await system.drivers.drain();
  const unique = new Set(arrivals.ids).size;
  const lost = affected.length - unique;
  ctx.log(`  storm: ${d.reopened}/${d.dropped} sockets back, ${unique}/${affected.length} messages delivered`);
  return [
    { scenario, metric: 'gateways dropped by the kill', unit: '', value: d.dropped },
    {
      scenario,
      metric: 'time until every dropped gateway is connected again',
      unit: 's',
      value: d.dropped > 0 && d.reopened >= d.dropped ? (d.lastReopenAt - t0) / 1000 : null,
    },
    {
      scenario,
      metric: 'time until every one is served again',
      unit: 's',
      value: lost === 0 ? (maxOf(arrivals.at) - t0) / 1000 : null,
      target: { on: 'value', bound: 'max', limit: 15 },
      note: 'SIGKILL → the last of the messages sent at the kill (one per gateway of the lost node) reaches its gateway; none if any is lost',
    },
    { scenario, metric: 'messages lost', unit: '', value: lost, target: { on: 'value', bound: 'max', limit: 0 } },
  ];
}

/** Idle memory at both sizes and (optionally) the reconnect storm. */
export function gatewaysPhase(which: { idle: boolean; storm: boolean }) {
  return async (ctx: ScenarioContext, kind: SystemKind): Promise<Reading[]> => {
    const { idleSmall, idleLarge } = ctx.sizes;
    const system = await startSystem(kind, { nodes: NODES, maxGateways: idleLarge, backend: ctx.backend, scripts: ctx.scripts, delivery: ctx.delivery });
    try {
      await sleep(SETTLE_MS);
      const empty = nodeRss(system);
      const readings: Reading[] = [
        { scenario: 'idle', metric: 'node RSS with no gateways', unit: 'MB', value: mean(empty) / 1e6, target: { on: 'value', bound: 'max', limit: 70 } },
      ];
      let connected = 0;
      for (const total of [idleSmall, idleLarge]) {
        ctx.log(`  connecting gateways ${connected}..${total - 1}`);
        await system.connect(range(total - connected, connected));
        connected = total;
        await sleep(SETTLE_MS);
        const rss = nodeRss(system);
        const perNode = total / NODES;
        readings.push({
          scenario: 'idle',
          metric: `RSS per authenticated gateway, ${perNode.toLocaleString('en-US')} per node`,
          unit: 'KB',
          value: mean(rss.map((r, i) => (r - empty[i]!) / perNode)) / 1000,
          ...(total === idleLarge ? { target: { on: 'value' as const, bound: 'max' as const, limit: 8 } } : {}),
        });
      }
      const out = which.idle ? readings : [];
      if (which.storm) out.push(...(await storm(ctx, system, idleLarge)));
      return out;
    } finally {
      await system.stop();
    }
  };
}

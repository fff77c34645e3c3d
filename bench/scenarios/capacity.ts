/**
 * Many gateways: one node alone and three nodes together are given the full count, then a sample of the gateways is
 * each sent one message. Figures: gateways connected, connect rate, RSS per gateway, sample served.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startSystem, type SystemKind } from '../systems/bench-system.js';
import { sample } from '../systems/measured.js';
import { range, waitReceived, type Reading, type ScenarioContext } from './scenario-context.js';

async function capacity(ctx: ScenarioContext, kind: SystemKind, nodes: number, gateways: number): Promise<Reading[]> {
  const scenario = `${gateways.toLocaleString('en-US')} gateways on ${nodes === 1 ? 'one node' : `${nodes} nodes`}`;
  const system = await startSystem(kind, { nodes, maxGateways: gateways, backend: ctx.backend, scripts: ctx.scripts, delivery: ctx.delivery });
  try {
    await sleep(2_000);
    const nodeTargets = system.targets.filter((t) => t.role === 'node');
    const s0 = sample(system.targets);
    ctx.log(`  connecting ${gateways} gateways to ${nodes} node(s)`);
    const t0 = Date.now();
    let connectError: string | null = null;
    await system.connect(range(gateways), 120_000).catch((err: unknown) => {
      connectError = String(err);
    });
    const connectS = (Date.now() - t0) / 1000;
    const open = (await system.drivers.count()).open;
    await sleep(2_000);
    const s1 = sample(system.targets);
    const rss = nodeTargets.map((t) => (s1.usage.get(t.name)!.rssBytes - s0.usage.get(t.name)!.rssBytes) / (gateways / nodes));
    // Spread the sample over all gateways, so it reaches every node and every driver.
    const step = Math.max(1, Math.floor(gateways / ctx.sizes.capacitySample));
    const picked = range(Math.min(gateways, ctx.sizes.capacitySample)).map((k) => (k * step) % gateways);
    await system.bind(picked);
    await system.drivers.drain();
    await system.fake.append(picked);
    await system.fake.callback();
    await waitReceived(system.drivers, picked.length, 60_000);
    const served = new Set((await system.drivers.drain()).ids).size;
    ctx.log(`  ${open}/${gateways} open, ${served}/${picked.length} served${connectError ? `; ${connectError}` : ''}`);
    return [
      { scenario, metric: 'gateways connected', unit: '', value: open, target: { on: 'value', bound: 'min', limit: gateways }, ...(connectError ? { note: connectError } : {}) },
      { scenario, metric: 'connect rate', unit: 'gateways/s', value: open / connectS },
      { scenario, metric: 'RSS per authenticated gateway', unit: 'KB', value: rss.reduce((a, b) => a + b, 0) / rss.length / 1000 },
      { scenario, metric: `sample served (one message to each of ${picked.length})`, unit: '%', value: (served / picked.length) * 100, target: { on: 'value', bound: 'min', limit: 100 } },
    ];
  } finally {
    await system.stop();
  }
}

/** One node with `capacityOne` gateways, then three nodes with `capacityThree`. */
export async function capacityPhase(ctx: ScenarioContext, kind: SystemKind): Promise<Reading[]> {
  const one = await capacity(ctx, kind, 1, ctx.sizes.capacityOne);
  await ctx.backend.reset();
  return [...one, ...(await capacity(ctx, kind, 3, ctx.sizes.capacityThree))];
}

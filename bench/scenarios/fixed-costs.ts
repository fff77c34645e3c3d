/**
 * What a system spends whatever its traffic, on the system the burst and the steady rate used, once they are over: a
 * window at rest and a window of WeCom callbacks alone, sent as the steady rate sends them (one to every server every
 * 50 ms) with no message to pull. A cost of F ms/s that does not grow with the messages adds F / R to the CPU per
 * message at a steady rate R; these rows show how much of the steady figure that is, for each system.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchSystem, SystemKind } from '../systems/bench-system.js';
import { cpuBetween, sample, type Measured, type Role, type Sample } from '../systems/measured.js';
import type { Reading, ScenarioContext } from './scenario-context.js';

/** Before the rest window: what the traffic before left (collections once the node falls quiet, re-checks) is over. */
const SETTLE_MS = 5_000;
/** Each window's length. */
const WINDOW_MS = 5_000;
/** The steady rate's cadence: one callback to every server this often (traffic.ts sendAtRate). */
export const CALLBACK_EVERY_MS = 50;
/** After the last callback: its pull (an empty page) is answered and the lease let go within the window. */
const CALLBACK_TAIL_MS = 500;

const CALLBACK_WORK: Record<SystemKind, string> = {
  relay:
    'each callback: signature checked, body decrypted and parsed, the pull noted in Redis (so it survives a crash), then answered; the lease holder waits SYNC_COALESCE_MS (5 ms) for the other callbacks, then pulls once for them all',
  peer: 'each callback answered `success` unread; one server pulls, on its own callbacks only (bench/peer/socketio-server.ts)',
};

/** The fixed-cost rows of one system: at rest, and with callbacks alone; call when the fake WeCom holds no message. */
export async function fixedCosts(ctx: ScenarioContext, system: BenchSystem, kind: SystemKind): Promise<Reading[]> {
  const scenario = `fixed costs, ${ctx.sizes.trafficGateways.toLocaleString('en-US')} gateways on 3 nodes`;
  await sleep(SETTLE_MS);
  const rest0 = sample(system.targets);
  await sleep(WINDOW_MS);
  const rest1 = sample(system.targets);
  const until = Date.now() + WINDOW_MS;
  let callbacks = 0;
  while (Date.now() < until) {
    void system.fake.callback().catch(() => undefined);
    callbacks++;
    await sleep(CALLBACK_EVERY_MS);
  }
  await sleep(CALLBACK_TAIL_MS);
  const calls1 = sample(system.targets);
  ctx.log(`  fixed costs: ${callbacks} rounds of callbacks`);
  const msPerS = (a: Sample, b: Sample, role: Role): number =>
    cpuBetween(a, b, system.targets, (t: Measured) => t.role === role) / (b.at - a.at);
  const nodesOnCallbacks = msPerS(rest1, calls1, 'node');
  const callbackNote = `one callback to every server every ${CALLBACK_EVERY_MS} ms, nothing to pull; ${CALLBACK_WORK[kind]}`;
  return [
    { scenario, metric: 'CPU of all nodes at rest', unit: 'ms/s', value: msPerS(rest0, rest1, 'node'), note: `${WINDOW_MS / 1000} s with the gateways connected and bound, no traffic` },
    { scenario, metric: 'Redis CPU at rest', unit: 'ms/s', value: msPerS(rest0, rest1, 'redis') },
    { scenario, metric: 'CPU of all nodes, callbacks alone', unit: 'ms/s', value: nodesOnCallbacks, note: callbackNote },
    { scenario, metric: 'Redis CPU, callbacks alone', unit: 'ms/s', value: msPerS(rest1, calls1, 'redis') },
    {
      scenario,
      metric: `what the steady rate's CPU per message of all nodes owes to rest and callbacks`,
      unit: 'µs',
      value: (nodesOnCallbacks * 1000) / ctx.sizes.steadyRate,
      note: `CPU of all nodes with callbacks alone ÷ the steady rate (${ctx.sizes.steadyRate.toLocaleString('en-US')} msg/s): the part of the steady figure that does not grow with the messages`,
    },
  ];
}

/**
 * What a system spends whatever its traffic: three servers (the compiled relay or the Socket.IO peer, started as
 * `pnpm bench` starts them) holding connected, bound gateways, measured over a window at rest and over a window of
 * WeCom callbacks alone (every `--every` ms to every server, as the steady scenario sends them, with no message to
 * pull). Prints CPU ms per second of every role from /proc. At a steady rate R, a role's fixed cost F ms/s adds
 * F / R to its CPU per message, so this separates what `pnpm bench`'s steady figure owes to the callbacks from what it
 * owes to the messages.
 *
 *   pnpm build && pnpm tsx bench/fixed-cost-profile.ts [--systems relay,peer] [--gateways 3000] [--seconds 10] [--every 50]
 */
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildChildren } from './lib/build-children.js';
import { range } from './scenarios/scenario-context.js';
import { startRedisBackend } from './systems/redis-backend.js';
import { startSystem } from './systems/bench-system.js';
import { cpuBetween, sample, type Role, type Sample } from './systems/measured.js';

const { values: flags } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    systems: { type: 'string', default: 'relay,peer' },
    gateways: { type: 'string', default: '3000' },
    seconds: { type: 'string', default: '10' },
    every: { type: 'string', default: '50' },
  },
});
const GATEWAYS = Number(flags.gateways);
const WINDOW_MS = Number(flags.seconds) * 1000;
const EVERY_MS = Number(flags.every);
// After the gateways are bound: the connect burst's collections and first re-checks are over before the rest window.
const SETTLE_MS = 5_000;
const ROLES: Role[] = ['node', 'redis', 'fake-wecom', 'driver'];

const systems = (['relay', 'peer'] as const).filter((kind) => flags.systems.split(',').includes(kind));
if (systems.length === 0) throw new Error('--systems names neither relay nor peer');

const scripts = await buildChildren();
const backend = await startRedisBackend('single');
try {
  for (const kind of systems) {
    const system = await startSystem(kind, { nodes: 3, maxGateways: GATEWAYS, backend, scripts, delivery: 'ack' });
    try {
      await system.connect(range(GATEWAYS));
      await system.bind(range(GATEWAYS));
      await sleep(SETTLE_MS);
      const line = (label: string, a: Sample, b: Sample): string => {
        const seconds = (b.at - a.at) / 1000;
        const roles = ROLES.map((role) => `${role} ${(cpuBetween(a, b, system.targets, (t) => t.role === role) / 1000 / seconds).toFixed(1)}`);
        return `${kind.padEnd(5)} ${label.padEnd(28)} CPU ms/s: ${roles.join(', ')}`;
      };
      const rest0 = sample(system.targets);
      await sleep(WINDOW_MS);
      const rest1 = sample(system.targets);
      console.log(line('at rest', rest0, rest1));
      const until = Date.now() + WINDOW_MS;
      while (Date.now() < until) {
        void system.fake.callback().catch(() => undefined);
        await sleep(EVERY_MS);
      }
      const calls1 = sample(system.targets);
      console.log(line(`a callback every ${EVERY_MS} ms`, rest1, calls1));
    } finally {
      await system.stop();
      await backend.reset();
    }
  }
} finally {
  await backend.stop();
}

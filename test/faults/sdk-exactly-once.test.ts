import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { SdkApp, expectExactlyOnceInOrder, waitForLogs } from '../e2e/support/sdk-app.js';
import { useFaultCluster } from './support/fault-cluster.js';
import { FAULT_TEST_TIMEOUT_MS } from './support/fault-profile.js';
import { InboundLoad, type LoadTarget } from './support/inbound-load.js';

/** Roughly one message in eight, chosen by msgid so a rerun fails the same ones. */
function unlucky(msgid: string): boolean {
  return createHash('sha256').update(msgid).digest()[0]! < 32;
}

describe('gateway SDK: exactly once to the application while relay nodes crash and restart', () => {
  const stack = useFaultCluster();

  it(
    'every customer message reaches the application exactly once, in per-customer order, through a SIGKILL and a rolling restart',
    async () => {
      const cluster = stack.cluster;
      const apps: SdkApp[] = [];
      const targets: LoadTarget[] = [];
      const specs = [
        { dialect: 'plain' as const, flaky: false },
        { dialect: 'cs' as const, flaky: false },
        { dialect: 'plain' as const, flaky: true },
      ];
      try {
        for (const [i, spec] of specs.entries()) {
          const gatewayId = `sdk-gw${i}-${spec.dialect}${spec.flaky ? '-flaky' : ''}`;
          const app = new SdkApp({
            url: cluster.lb.wsUrl,
            gatewayId,
            authToken: cluster.tokenFor(gatewayId),
            dialect: spec.dialect,
            ...(spec.flaky ? { failFirstAttempt: (m: { id: string }) => unlucky(m.id) } : {}),
          });
          apps.push(app);
          await app.gateway.start();
          for (let u = 0; u < 2; u++) {
            const user = `wm-sdk-u${i}-${u}`;
            await app.bind(cluster.fake.control, user);
            targets.push({ user, gatewayId });
          }
        }

        const load = new InboundLoad({ control: cluster.fake.control, targets, ratePerSec: 10, label: 'sdk' });
        load.start();
        await sleep(2_000);
        const exits: string[] = [];
        // A crash, then a rolling restart of the others, all under load.
        for (const [i, signal] of [[0, 'SIGKILL'], [1, 'SIGTERM'], [2, 'SIGTERM']] as const) {
          const exit = await cluster.stopNode(i, signal);
          exits.push(`fault-${i} ${signal} → ${exit.code ?? exit.signal}`);
          await cluster.startNode(i);
          await sleep(1_000);
        }
        await sleep(2_000);
        await load.stop();

        const allLogs = () => apps.flatMap((a) => a.log);
        await waitForLogs(load.sent, allLogs, 60_000);
        // A moment for late redeliveries to reach the handlers before counting repeats.
        await sleep(1_000);
        const moved = apps.reduce((n, a) => n + a.closeCodes.length, 0);
        console.log(
          `[sdk] messages ${load.sent.length}, handled ${allLogs().length}, planted handler failures ` +
            `${apps.reduce((n, a) => n + a.failures, 0)}, repeats dropped by the SDK ` +
            `${apps.reduce((n, a) => n + a.gateway.duplicatesDropped, 0)}, reconnects ${moved}, ${exits.join(', ')}`,
        );
        expect(load.sent.length).toBeGreaterThan(50);
        expect(moved, 'the node faults moved gateways').toBeGreaterThan(0);
        for (const app of apps) {
          const mine = load.sent.filter((m) => m.gatewayId === app.gatewayId);
          expectExactlyOnceInOrder(mine, app.log);
        }
        // A gateway closed by the last restart (or moved by rebalancing after it) may still be in its reconnect delay
        // (up to 2 s here) when the last message is handled: each must be connected again within a bound.
        const deadline = Date.now() + 15_000;
        while (!apps.every((a) => a.gateway.state === 'open') && Date.now() < deadline) await sleep(100);
        const states = apps.map((a) => `${a.gatewayId} ${a.gateway.state} (closes ${a.closeCodes.join(',') || 'none'})`);
        expect(apps.every((a) => a.gateway.state === 'open'), `every SDK gateway is connected again: ${states.join('; ')}`).toBe(true);
      } finally {
        await Promise.allSettled(apps.map((a) => a.gateway.close()));
      }
    },
    FAULT_TEST_TIMEOUT_MS,
  );
});

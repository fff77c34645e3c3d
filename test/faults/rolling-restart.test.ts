import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { useFaultCluster } from './support/fault-cluster.js';
import { FAULT_TEST_TIMEOUT_MS, faultProfile } from './support/fault-profile.js';
import { MIXED_GATEWAYS, expectNoMessageLost, finishScenario, openGateways } from './support/fault-scenario.js';
import { InboundLoad } from './support/inbound-load.js';
import { outageWaitMs } from './support/resilient-gateway.js';

const profile = faultProfile();

/** The bound: no gateway waits longer than this to be served again during a rolling restart. */
const MAX_WAIT_MS = 15_000;

describe(`fault suite (${profile.length}): rolling restart of every node under load`, () => {
  const stack = useFaultCluster();

  it(
    `loses nothing, and no gateway waits more than ${MAX_WAIT_MS / 1000} s to be served again, while nodes are SIGTERMed one by one`,
    async () => {
      const opened = await openGateways(stack.cluster, 'rolling', MIXED_GATEWAYS);
      stack.gateways.push(...opened.gateways);
      const load = new InboundLoad({
        control: stack.cluster.fake.control,
        targets: opened.targets,
        ratePerSec: profile.ratePerSec,
        label: 'rolling',
      });
      load.start();
      await sleep(2_000);

      const exits: string[] = [];
      for (let i = 0; i < stack.cluster.nodes.length; i++) {
        const exit = await stack.cluster.stopNode(i, 'SIGTERM');
        exits.push(`fault-${i} ${exit.code ?? exit.signal}`);
        await stack.cluster.startNode(i);
        await sleep(profile.rollingPauseMs);
      }

      // Load continues for a while so that every gateway moved late is served again by new traffic.
      await sleep(4_000);
      await load.stop();
      const outages = opened.gateways.flatMap((g) => g.outages);
      const waits = outages.map((o) => outageWaitMs(o));
      const longestWait = Math.max(0, ...waits);
      const closeCodes = [...new Set(outages.map((o) => o.closeCode))].sort().join('/');
      const result = await finishScenario(
        'rolling-restart',
        stack.cluster,
        { sent: load.sent, gateways: opened.gateways, targets: opened.targets },
        profile.deliveryTimeoutMs,
        {
          'node exits': exits.join(' '),
          'gateways moved': outages.length,
          'close codes': closeCodes || '-',
          'longest wait to be served again': `${longestWait} ms`,
          'redeliveries dropped by ack gateways': opened.gateways.reduce((n, g) => n + g.droppedRedeliveries(), 0),
          'callbacks failed': `${load.callbacksFailed}/${load.callbacks}`,
        },
      );
      expect(outages.length, 'the drains moved some gateways').toBeGreaterThan(0);
      expect(outages.filter((o) => o.reconnectedAt === null), 'gateways still without a socket').toEqual([]);
      expect(
        outages.filter((o) => o.closeCode !== 1012).map((o) => o.closeCode),
        'sockets a drain closed with another code than 1012 (restarting, reconnect)',
      ).toEqual([]);
      expect(longestWait, 'longest wait of a gateway to be served again').toBeLessThanOrEqual(MAX_WAIT_MS);
      expect(exits.every((e) => e.endsWith(' 0')), `every node drained and exited 0: ${exits.join(', ')}`).toBe(true);
      expectNoMessageLost(result);
    },
    FAULT_TEST_TIMEOUT_MS,
  );
});

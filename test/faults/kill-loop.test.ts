import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { useFaultCluster } from './support/fault-cluster.js';
import { FAULT_TEST_TIMEOUT_MS, faultProfile } from './support/fault-profile.js';
import { MIXED_GATEWAYS, expectNoMessageLost, finishScenario, openGateways } from './support/fault-scenario.js';
import { InboundLoad } from './support/inbound-load.js';
import { faultSeed, seededRandom } from './support/seeded-random.js';
import { outageWaitMs } from './support/resilient-gateway.js';

const profile = faultProfile();
const random = seededRandom(faultSeed());

describe(`fault suite (${profile.length}): relay nodes killed with SIGKILL under load`, () => {
  const stack = useFaultCluster();

  it(
    'loses nothing while a random node is SIGKILLed every few seconds and restarted',
    async () => {
      const opened = await openGateways(stack.cluster, 'kill', MIXED_GATEWAYS);
      stack.gateways.push(...opened.gateways);
      const load = new InboundLoad({
        control: stack.cluster.fake.control,
        targets: opened.targets,
        ratePerSec: profile.ratePerSec,
        label: 'kill-loop',
      });
      load.start();
      await sleep(2_000);

      const victims: string[] = [];
      const end = Date.now() + profile.killLoopMs;
      while (Date.now() < end) {
        const i = random.int(0, stack.cluster.nodes.length);
        await stack.cluster.stopNode(i, 'SIGKILL');
        victims.push(`fault-${i}`);
        await stack.cluster.startNode(i);
        await sleep(random.int(1_000, 3_000));
      }

      await sleep(2_000);
      await load.stop();
      const outages = opened.gateways.flatMap((g) => g.outages);
      const result = await finishScenario(
        'kill-loop',
        stack.cluster,
        { sent: load.sent, gateways: opened.gateways, targets: opened.targets },
        profile.deliveryTimeoutMs,
        {
          kills: victims.length,
          'gateway reconnects': outages.length,
          'longest gateway wait': `${Math.max(0, ...outages.map((o) => outageWaitMs(o)))} ms`,
          'redeliveries dropped by ack gateways': opened.gateways.reduce((n, g) => n + g.droppedRedeliveries(), 0),
          'callbacks failed': `${load.callbacksFailed}/${load.callbacks}`,
          seed: random.seed,
        },
      );
      expect(victims.length, 'nodes killed').toBeGreaterThan(0);
      expectNoMessageLost(result);
    },
    FAULT_TEST_TIMEOUT_MS,
  );
});

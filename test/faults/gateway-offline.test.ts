import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { useFaultCluster } from './support/fault-cluster.js';
import { FAULT_TEST_TIMEOUT_MS, faultProfile } from './support/fault-profile.js';
import { expectNoMessageLost, finishScenario, openGateways, type GatewaySpec } from './support/fault-scenario.js';
import { InboundLoad } from './support/inbound-load.js';

const profile = faultProfile();

/** An ack-mode gateway, a deployed dialect-1 gateway and a dialect-2 one, three users each. */
const OFFLINE_GATEWAYS: readonly GatewaySpec[] = [
  { dialect: 'plain', delivery: 'ack', users: 3 },
  { dialect: 'plain', delivery: 'legacy', users: 3 },
  { dialect: 'cs', delivery: 'legacy', users: 3 },
];

describe(`fault suite (${profile.length}): gateways offline, then back on another node`, () => {
  const stack = useFaultCluster();

  it(
    `delivers everything sent during a ${profile.offlineMs / 1000} s absence, in order, once each gateway returns elsewhere`,
    async () => {
      const nodeCount = stack.cluster.nodes.length;
      const opened = await openGateways(stack.cluster, 'offline', OFFLINE_GATEWAYS, (i) => stack.cluster.nodes[i % nodeCount]!.wsUrl);
      stack.gateways.push(...opened.gateways);
      const load = new InboundLoad({
        control: stack.cluster.fake.control,
        targets: opened.targets,
        ratePerSec: profile.ratePerSec,
        label: 'offline',
      });
      load.start();
      await sleep(2_000);

      // The ack-mode gateway crashes (frames in flight must come again); the legacy ones shut down politely, since
      // a legacy gateway that crashes loses what its socket had already taken, and no relay can know about that.
      await Promise.all(opened.gateways.map((g) => g.goOffline(g.ackCapable ? 'terminate' : 'close')));
      const sentBefore = load.sent.length;
      await sleep(profile.offlineMs);
      const sentWhileOffline = load.sent.length - sentBefore;
      await Promise.all(opened.gateways.map((g, i) => g.comeBack(stack.cluster.nodes[(i + 1) % nodeCount]!.wsUrl)));

      await sleep(2_000);
      await load.stop();
      const result = await finishScenario(
        'gateway-offline',
        stack.cluster,
        { sent: load.sent, gateways: opened.gateways, targets: opened.targets },
        profile.deliveryTimeoutMs,
        {
          offline: `${profile.offlineMs} ms`,
          'sent while offline': sentWhileOffline,
          'redeliveries dropped by ack gateway': opened.gateways
            .filter((g) => g.ackCapable)
            .reduce((n, g) => n + g.droppedRedeliveries(), 0),
        },
      );
      expect(sentWhileOffline, 'messages written while the stack.gateways were away').toBeGreaterThan(0);
      expectNoMessageLost(result);
    },
    FAULT_TEST_TIMEOUT_MS,
  );
});

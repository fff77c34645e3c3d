import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultCluster, type FaultCluster } from './support/fault-cluster.js';
import { FAULT_HOOK_TIMEOUT_MS, FAULT_TEST_TIMEOUT_MS, faultProfile } from './support/fault-profile.js';
import { expectNoMessageLost, finishScenario, openGateways, type GatewaySpec } from './support/fault-scenario.js';
import { InboundLoad } from './support/inbound-load.js';
import type { ResilientGateway } from './support/resilient-gateway.js';

const profile = faultProfile();

/** An ack-mode gateway, a deployed dialect-1 gateway and a dialect-2 one, three users each. */
const OFFLINE_GATEWAYS: readonly GatewaySpec[] = [
  { dialect: 'plain', delivery: 'ack', users: 3 },
  { dialect: 'plain', delivery: 'legacy', users: 3 },
  { dialect: 'cs', delivery: 'legacy', users: 3 },
];

describe(`fault suite (${profile.length}): gateways offline, then back on another node`, () => {
  let cluster: FaultCluster;
  const gateways: ResilientGateway[] = [];

  beforeAll(async () => {
    cluster = await startFaultCluster();
  }, FAULT_HOOK_TIMEOUT_MS);

  afterAll(async () => {
    await Promise.allSettled(gateways.map((g) => g.stop()));
    await cluster?.stop();
  }, FAULT_HOOK_TIMEOUT_MS);

  it(
    `delivers everything sent during a ${profile.offlineMs / 1000} s absence, in order, once each gateway returns elsewhere`,
    async () => {
      const nodeCount = cluster.nodes.length;
      const opened = await openGateways(cluster, 'offline', OFFLINE_GATEWAYS, (i) => cluster.nodes[i % nodeCount]!.wsUrl);
      gateways.push(...opened.gateways);
      const load = new InboundLoad({
        control: cluster.fake.control,
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
      await Promise.all(opened.gateways.map((g, i) => g.comeBack(cluster.nodes[(i + 1) % nodeCount]!.wsUrl)));

      await sleep(2_000);
      await load.stop();
      const result = await finishScenario(
        'gateway-offline',
        cluster,
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
      expect(sentWhileOffline, 'messages written while the gateways were away').toBeGreaterThan(0);
      expectNoMessageLost(result);
    },
    FAULT_TEST_TIMEOUT_MS,
  );
});

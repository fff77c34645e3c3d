import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { startFaultCluster, type FaultCluster } from './support/fault-cluster.js';
import { FAULT_HOOK_TIMEOUT_MS, FAULT_TEST_TIMEOUT_MS, faultProfile } from './support/fault-profile.js';
import { MIXED_GATEWAYS, expectNoMessageLost, finishScenario, openGateways } from './support/fault-scenario.js';
import { InboundLoad } from './support/inbound-load.js';
import { outageWaitMs, type ResilientGateway } from './support/resilient-gateway.js';

const profile = faultProfile();

describe(`fault suite (${profile.length}): Redis restarted under load`, () => {
  let cluster: FaultCluster;
  const gateways: ResilientGateway[] = [];

  beforeAll(async () => {
    cluster = await startFaultCluster();
  }, FAULT_HOOK_TIMEOUT_MS);

  afterAll(async () => {
    await Promise.allSettled(gateways.map((g) => g.stop()));
    await cluster?.stop();
  }, FAULT_HOOK_TIMEOUT_MS);

  /** Runs the load around `fault`, then counts. */
  async function underLoad(label: string, fault: () => Promise<void>): Promise<void> {
    const opened = await openGateways(cluster, label, MIXED_GATEWAYS);
    gateways.push(...opened.gateways);
    const load = new InboundLoad({
      control: cluster.fake.control,
      targets: opened.targets,
      ratePerSec: profile.ratePerSec,
      label,
    });
    load.start();
    await sleep(profile.redisPhaseMs);
    const faultAt = Date.now();
    await fault();
    const faultMs = Date.now() - faultAt;
    await sleep(profile.redisPhaseMs);
    await load.stop();
    const outages = opened.gateways.flatMap((g) => g.outages);
    const result = await finishScenario(
      label,
      cluster,
      { sent: load.sent, gateways: opened.gateways, targets: opened.targets },
      profile.deliveryTimeoutMs,
      {
        'redis away': `${faultMs} ms`,
        'gateway reconnects': outages.length,
        'longest gateway wait': `${Math.max(0, ...outages.map((o) => outageWaitMs(o)))} ms`,
        'callbacks failed': `${load.callbacksFailed}/${load.callbacks}`,
      },
    );
    expectNoMessageLost(result);
  }

  it(
    'loses nothing when Redis is restarted (SIGTERM, append-only file replayed) mid-load',
    () => underLoad('redis-restart', () => cluster.redis.restart()),
    FAULT_TEST_TIMEOUT_MS,
  );

  it(
    'loses nothing when Redis crashes (SIGKILL) mid-load and comes back 2 s later',
    () =>
      underLoad('redis-crash', async () => {
        await cluster.redis.kill();
        await sleep(2_000);
        await cluster.redis.restart();
      }),
    FAULT_TEST_TIMEOUT_MS,
  );
});

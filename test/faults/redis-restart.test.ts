import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'vitest';
import { useFaultCluster } from './support/fault-cluster.js';
import { FAULT_TEST_TIMEOUT_MS, faultProfile } from './support/fault-profile.js';
import { MIXED_GATEWAYS, expectNoMessageLost, finishScenario, openGateways } from './support/fault-scenario.js';
import { InboundLoad } from './support/inbound-load.js';
import { outageWaitMs } from './support/resilient-gateway.js';

const profile = faultProfile();

describe(`fault suite (${profile.length}): Redis restarted under load`, () => {
  const stack = useFaultCluster({ restartsRedis: true });

  /** Runs the load around `fault`, then counts. */
  async function underLoad(label: string, fault: () => Promise<void>): Promise<void> {
    const opened = await openGateways(stack.cluster, label, MIXED_GATEWAYS);
    stack.gateways.push(...opened.gateways);
    const load = new InboundLoad({
      control: stack.cluster.fake.control,
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
      stack.cluster,
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
    () => underLoad('redis-restart', () => stack.cluster.redis.restart()),
    FAULT_TEST_TIMEOUT_MS,
  );

  it(
    'loses nothing when Redis crashes (SIGKILL) mid-load and comes back 2 s later',
    () =>
      underLoad('redis-crash', async () => {
        await stack.cluster.redis.kill();
        await sleep(2_000);
        await stack.cluster.redis.restart();
      }),
    FAULT_TEST_TIMEOUT_MS,
  );
});

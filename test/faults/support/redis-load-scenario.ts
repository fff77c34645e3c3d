import { setTimeout as sleep } from 'node:timers/promises';
import type { FaultClusterStack } from './fault-cluster.js';
import type { FaultProfile } from './fault-profile.js';
import { MIXED_GATEWAYS, finishScenario, openGateways, type ScenarioResult } from './fault-scenario.js';
import { InboundLoad } from './inbound-load.js';
import { outageWaitMs } from './resilient-gateway.js';

/** What a Redis fault reports for the scenario line (e.g. which master it killed). */
export type FaultFigures = Record<string, string | number>;

/**
 * The Redis fault scenario shape: mixed gateways bound, load running, `fault` applied after `redisPhaseMs`, load
 * for another `redisPhaseMs`, then counted. `fault` receives the scenario's gateway ids (to aim at the shards that
 * hold their queues) and may return figures for the scenario line.
 */
export async function runRedisFaultUnderLoad(
  stack: FaultClusterStack,
  profile: FaultProfile,
  label: string,
  fault: (gatewayIds: readonly string[]) => Promise<FaultFigures | void>,
): Promise<ScenarioResult> {
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
  const figures = (await fault(opened.gateways.map((g) => g.gatewayId))) ?? {};
  const faultMs = Date.now() - faultAt;
  await sleep(profile.redisPhaseMs);
  await load.stop();
  const outages = opened.gateways.flatMap((g) => g.outages);
  return finishScenario(
    label,
    stack.cluster,
    { sent: load.sent, gateways: opened.gateways, targets: opened.targets },
    profile.deliveryTimeoutMs,
    {
      ...figures,
      'redis fault': `${faultMs} ms`,
      'gateway reconnects': outages.length,
      'longest gateway wait': `${Math.max(0, ...outages.map((o) => outageWaitMs(o)))} ms`,
      'redeliveries dropped by ack gateways': opened.gateways.reduce((n, g) => n + g.droppedRedeliveries(), 0),
      'callbacks failed': `${load.callbacksFailed}/${load.callbacks}`,
    },
  );
}

import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';
import { baseType, resolvedUser, type WireDelivery, type WireDialect } from '@wecom-relay/gateway-client';
import { allDelivered, faultLine, tallyDeliveries, type DeliveryTally } from './delivery-tally.js';
import { allHealthy, describeHealth, type FaultCluster, type NodeHealth } from './fault-cluster.js';
import type { LoadTarget, SentMessage } from './inbound-load.js';
import { ResilientGateway } from './resilient-gateway.js';

/** One kind of gateway a scenario runs, and how many WeCom users are bound to it. */
export interface GatewaySpec {
  dialect: WireDialect;
  delivery: WireDelivery;
  users: number;
}

/** The usual mix: acknowledged and legacy gateways in both dialects. */
export const MIXED_GATEWAYS: readonly GatewaySpec[] = [
  { dialect: 'plain', delivery: 'ack', users: 2 },
  { dialect: 'cs', delivery: 'ack', users: 2 },
  { dialect: 'plain', delivery: 'legacy', users: 2 },
  { dialect: 'cs', delivery: 'legacy', users: 2 },
  { dialect: 'plain', delivery: 'ack', users: 2 },
  { dialect: 'plain', delivery: 'legacy', users: 2 },
];

/** Gateways connected and bound, and the (user → gateway) pairs a load writes to. */
export interface ScenarioGateways {
  gateways: ResilientGateway[];
  targets: LoadTarget[];
}

/** Binds `user` to `gateway` by scan (create_binding, the user scans, binding_resolved), retrying a failed attempt once. */
export async function bindUser(cluster: FaultCluster, gateway: ResilientGateway, user: string): Promise<void> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const client = gateway.current;
      const offer = await client.createBinding();
      await cluster.fake.control.scan({ external_userid: user, url: offer.customerServiceUrl });
      await client.waitFor((f) => baseType(f.type) === 'binding_resolved' && resolvedUser(f) === user, 20_000);
      return;
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

/**
 * Connects one resilient gateway per spec (to `urlFor(i)`, default the balancer) and binds its users.
 * Ids carry `label` so scenarios sharing a cluster stay apart.
 */
export async function openGateways(
  cluster: FaultCluster,
  label: string,
  specs: readonly GatewaySpec[],
  urlFor: (index: number) => string = () => cluster.lb.wsUrl,
): Promise<ScenarioGateways> {
  const gateways: ResilientGateway[] = [];
  const targets: LoadTarget[] = [];
  for (const [i, spec] of specs.entries()) {
    const gatewayId = `${label}-gw${i}-${spec.dialect}-${spec.delivery}`;
    const gateway = new ResilientGateway({
      gatewayId,
      authToken: cluster.tokenFor(gatewayId),
      url: urlFor(i),
      dialect: spec.dialect,
      delivery: spec.delivery,
    });
    await gateway.connect();
    gateways.push(gateway);
    for (let u = 0; u < spec.users; u++) {
      const user = `wm-${label}-u${i}-${u}`;
      await bindUser(cluster, gateway, user);
      targets.push({ user, gatewayId });
    }
  }
  return { gateways, targets };
}

/** Polls until every sent message reached a gateway, or the time is up (no throw: the tally reports the rest). */
export async function waitAllDelivered(
  sent: readonly SentMessage[],
  gateways: readonly ResilientGateway[],
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (allDelivered(sent, gateways)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(250);
  }
}

/** Everything a scenario measured, and the line it printed. */
export interface ScenarioResult {
  tally: DeliveryTally;
  health: NodeHealth[];
  /** Gateways a fresh message (sent after the faults) did not reach. */
  freshMissing: string[];
  line: string;
}

/**
 * After a message written once the faults are over, each gateway must still be served: one fresh message per
 * gateway, announced through the balancer, must arrive. Resolves with the gateways it did not reach.
 */
export async function checkFreshDelivery(
  cluster: FaultCluster,
  gateways: readonly ResilientGateway[],
  targets: readonly LoadTarget[],
  label: string,
): Promise<string[]> {
  const missing = await Promise.all(
    gateways.map(async (gateway) => {
      const target = targets.find((t) => t.gatewayId === gateway.gatewayId);
      if (!target) return null;
      const { msgid } = await cluster.fake.control.customerMessage({
        external_userid: target.user,
        msgtype: 'text',
        content: `${label} fresh after the faults`,
      });
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        if (gateway.appInbound().some((m) => m.id === msgid)) return null;
        await sleep(200);
      }
      return gateway.gatewayId;
    }),
  );
  return missing.filter((g): g is string => g !== null);
}

/**
 * Ends a scenario the same way every time: waits for the stragglers, checks node health and fresh delivery,
 * counts, prints the scenario line (with `extra` figures) and returns everything for the assertions.
 */
export async function finishScenario(
  scenario: string,
  cluster: FaultCluster,
  run: { sent: readonly SentMessage[]; gateways: readonly ResilientGateway[]; targets: readonly LoadTarget[] },
  deliveryTimeoutMs: number,
  extra: Record<string, string | number> = {},
): Promise<ScenarioResult> {
  const waitedFrom = Date.now();
  const complete = await waitAllDelivered(run.sent, run.gateways, deliveryTimeoutMs);
  const caughtUpMs = Date.now() - waitedFrom;
  const health = await cluster.waitHealthy(30_000);
  const freshMissing = await checkFreshDelivery(cluster, run.gateways, run.targets, scenario);
  // A moment for late redeliveries to show up before counting duplicates.
  await sleep(1_000);
  const tally = tallyDeliveries(run.sent, run.gateways);
  // When WeCom first handed each message to a relay: a long delay means no node pulled for that long.
  const served = await cluster.fake.control.served();
  const pullDelays = run.sent.flatMap((m) => (served[m.msgid] === undefined ? [] : [served[m.msgid]! - m.sentAt]));
  const healthText =
    describeHealth(health) +
    (freshMissing.length === 0 ? ', fresh message delivered' : `, fresh message NOT delivered to ${freshMissing.join(' ')}`);
  const line = faultLine(scenario, tally, healthText, {
    ...extra,
    'longest wait for a pull': `${Math.max(0, ...pullDelays)} ms`,
    'caught up after': complete ? `${caughtUpMs} ms` : `NOT within ${deliveryTimeoutMs} ms`,
    'node error logs': cluster.errorLines().length,
  });
  console.log(line);
  if (tally.lostSample.length > 0) console.log(`[fault] ${scenario}: lost e.g. ${tally.lostSample.join('; ')}`);
  if (tally.disorderSample.length > 0) console.log(`[fault] ${scenario}: out of order e.g. ${tally.disorderSample.join('; ')}`);
  if (tally.longestDelivery.ms > 5_000) console.log(`[fault] ${scenario}: slowest delivery ${tally.longestDelivery.ms} ms: ${tally.longestDelivery.what}`);
  // FAULT_LOG_DIR keeps every node's output for reading after the run.
  const logDir = process.env.FAULT_LOG_DIR;
  if (logDir) cluster.dumpLogs(logDir, scenario);
  const errors = cluster.errorLines();
  if (errors.length > 0) console.log(`[fault] ${scenario}: node errors so far, e.g.\n  ${errors.slice(-3).map((l) => l.slice(0, 400)).join('\n  ')}`);
  return { tally, health, freshMissing, line };
}

/** The expectation for every scenario: nothing lost, nothing reordered, no duplicate past an acking gateway, healthy nodes. */
export function expectNoMessageLost(result: ScenarioResult): void {
  const { tally } = result;
  expect(tally.lost, `lost messages, e.g. ${tally.lostSample.join('; ')}`).toBe(0);
  expect(tally.outOfOrder, `out of order, e.g. ${tally.disorderSample.join('; ')}`).toBe(0);
  expect(tally.duplicates, 'duplicates reaching the application of an ack-mode gateway').toBe(0);
  expect(tally.misrouted, 'messages delivered to a gateway their user is not bound to').toBe(0);
  expect(allHealthy(result.health), describeHealth(result.health)).toBe(true);
  expect(result.freshMissing, 'gateways a fresh message did not reach').toEqual([]);
}

/** What every scenario gets, the sizes of a run, and the helpers they share. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Target } from '../lib/figures.js';
import type { ChildScripts } from '../lib/build-children.js';
import type { DriverPool } from '../drivers/driver-pool.js';
import type { Delivery } from '../drivers/driver-protocol.js';
import { cpuBetween, type Measured, type Sample } from '../systems/measured.js';
import type { RedisBackend } from '../systems/redis-backend.js';
import type { SystemKind } from '../systems/bench-system.js';

/** Sizes of a run (`--quick` shrinks them all). */
export interface Sizes {
  /** Idle memory: total gateways over 3 nodes, small and large (the large one is the reconnect storm's too). */
  idleSmall: number;
  idleLarge: number;
  /** Gateways during the burst and the steady rate. */
  trafficGateways: number;
  burstMessages: number;
  steadyRate: number;
  steadySeconds: number;
  /**
   * Seconds at the steady rate before the measured ones, not counted: the first seconds of traffic are not steady. The
   * relay's callback and acknowledgement paths run tens to hundreds of times a second, so V8 is still compiling them
   * long after the routing and delivery paths are hot (TurboFan was 17 % of the nodes' CPU in a window after 3 s, 10 %
   * after 20 s).
   */
  steadyWarmupSeconds: number;
  /** One node alone, and three nodes together. */
  capacityOne: number;
  capacityThree: number;
  /** Gateways of the capacity runs that are each sent one message. */
  capacitySample: number;
}

/** Full sizes: the shapes. */
export const FULL_SIZES: Sizes = {
  idleSmall: 3_000,
  idleLarge: 15_000,
  trafficGateways: 3_000,
  burstMessages: 200_000,
  steadyRate: 2_000,
  steadySeconds: 20,
  steadyWarmupSeconds: 20,
  capacityOne: 19_000,
  capacityThree: 50_000,
  capacitySample: 3_000,
};

/** `--quick`: hundreds of gateways, a few thousand messages, for development on a shared machine. */
export const QUICK_SIZES: Sizes = {
  idleSmall: 300,
  idleLarge: 600,
  trafficGateways: 300,
  burstMessages: 3_000,
  steadyRate: 500,
  steadySeconds: 5,
  steadyWarmupSeconds: 1,
  capacityOne: 600,
  capacityThree: 900,
  capacitySample: 300,
};

/** Everything a scenario needs. */
export interface ScenarioContext {
  backend: RedisBackend;
  scripts: ChildScripts;
  /** How the relay's gateways take delivery: `ack` (SDK gateways) or `legacy` (protocol v1, as deployed). */
  delivery: Delivery;
  sizes: Sizes;
  log: (line: string) => void;
}

/** One system's value of one figure. */
export interface Reading {
  scenario: string;
  metric: string;
  unit: string;
  value: number | null;
  target?: Target;
  note?: string;
  /**
   * With `--rounds`: 'worst' takes the round furthest on the wrong side of the target (a message lost or a latency
   * spike in any round stands), where other figures take the median.
   */
  acrossRounds?: 'worst';
}

/** A phase runs one system through one or more scenarios and returns its readings. */
export type Phase = (ctx: ScenarioContext, kind: SystemKind) => Promise<Reading[]>;

/**
 * Polls the drivers until `want` more frames than at the last drain have arrived or the deadline passes; returns the
 * count reached. Call it after `drivers.drain()`.
 */
export async function waitReceived(drivers: DriverPool, want: number, deadlineMs: number, onPoll?: () => Promise<void>): Promise<number> {
  const until = Date.now() + deadlineMs;
  let got = 0;
  for (;;) {
    got = (await drivers.count()).received;
    if (got >= want || Date.now() >= until) return got;
    await onPoll?.();
    await sleep(100);
  }
}

/** CPU per message of each kind of process between two samples, and Redis per shard on a cluster. */
export function cpuReadings(
  scenario: string,
  before: Sample,
  after: Sample,
  targets: readonly Measured[],
  backend: RedisBackend,
  messages: number,
  nodeTarget: Target | undefined,
  redisTarget: Target | undefined,
  redisNote: string,
): Reading[] {
  const per = (pick: (t: Measured) => boolean): number | null => (messages > 0 ? cpuBetween(before, after, targets, pick) / messages : null);
  const readings: Reading[] = [
    { scenario, metric: 'CPU per message, all nodes', unit: 'µs', value: per((t) => t.role === 'node'), ...(nodeTarget ? { target: nodeTarget } : {}) },
    { scenario, metric: 'Redis CPU per message', unit: 'µs', value: per((t) => t.role === 'redis'), ...(redisTarget ? { target: redisTarget } : {}), note: redisNote },
  ];
  if (backend.kind === 'cluster') {
    backend.shards.forEach((shard, i) => {
      readings.push({ scenario, metric: `Redis CPU per message, shard ${i + 1} master`, unit: 'µs', value: per((t) => t.role === 'redis' && t.shard === shard && !t.replica) });
    });
    readings.push({ scenario, metric: 'Redis CPU per message, the 3 replicas together', unit: 'µs', value: per((t) => t.role === 'redis' && t.replica === true) });
  }
  readings.push(
    { scenario, metric: 'fake WeCom CPU per message', unit: 'µs', value: per((t) => t.role === 'fake-wecom') },
    { scenario, metric: 'gateway drivers CPU per message', unit: 'µs', value: per((t) => t.role === 'driver') },
  );
  return readings;
}

/** 0..n-1. */
export const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);

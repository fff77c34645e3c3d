/*
 * The fault suite (test/faults): real relay nodes on a real Redis (append-only), a fake WeCom and haproxy.
 * FAULT_SUITE=long runs the durations the issue names (kill loop 60 s, gateways offline 60 s, twice the load);
 * FAULT_SEED=<n> replays the random choices of a printed run; FAULT_LOG_DIR=<dir> keeps every node's output;
 * FAULT_REDIS=cluster runs every scenario on a Redis Cluster (3 masters + 3 replicas) instead of one Redis.
 */

/** How long and how hard the fault suite runs: `short` for CI by default, `long` with FAULT_SUITE=long. */
export type FaultSuiteLength = 'short' | 'long';

/** The durations and loads every scenario reads, so one switch changes the whole suite. */
export interface FaultProfile {
  length: FaultSuiteLength;
  /** Customer messages per second while a scenario's load runs. */
  ratePerSec: number;
  /** Scenario 1: how long nodes keep being killed. */
  killLoopMs: number;
  /** Scenario 2: load before, between and after the Redis faults. */
  redisPhaseMs: number;
  /** Scenario 3: how long the gateways stay offline. */
  offlineMs: number;
  /** Scenario 4: how long duplicated/delayed callbacks and WeCom faults go on. */
  callbackFaultMs: number;
  /** Scenario 5: pause between one node being back and the next SIGTERM. */
  rollingPauseMs: number;
  /** Scenario 6: fuzzed webhook requests and fuzzed frames per socket kind. */
  fuzzCases: number;
  /** Scenario 6: unauthenticated sockets opened at once. */
  floodSockets: number;
  /** How long to wait, after the faults stop, for every message to arrive before counting the rest as lost. */
  deliveryTimeoutMs: number;
}

const SHORT: FaultProfile = {
  length: 'short',
  ratePerSec: 10,
  killLoopMs: 20_000,
  redisPhaseMs: 4_000,
  offlineMs: 10_000,
  callbackFaultMs: 15_000,
  rollingPauseMs: 1_000,
  fuzzCases: 60,
  floodSockets: 300,
  deliveryTimeoutMs: 90_000,
};

const LONG: FaultProfile = {
  length: 'long',
  ratePerSec: 20,
  killLoopMs: 60_000,
  redisPhaseMs: 10_000,
  offlineMs: 60_000,
  callbackFaultMs: 45_000,
  rollingPauseMs: 3_000,
  fuzzCases: 300,
  floodSockets: 1_000,
  deliveryTimeoutMs: 120_000,
};

/** The profile chosen by FAULT_SUITE (`long`, anything else is short). */
export function faultProfile(env: NodeJS.ProcessEnv = process.env): FaultProfile {
  return env.FAULT_SUITE === 'long' ? LONG : SHORT;
}

/** What the fault suite's nodes run on: one Redis (default), or a Redis Cluster with FAULT_REDIS=cluster. */
export type FaultRedisEngine = 'single' | 'cluster';

/** The engine chosen by FAULT_REDIS (`cluster`, anything else is one Redis). */
export function faultRedisEngine(env: NodeJS.ProcessEnv = process.env): FaultRedisEngine {
  return env.FAULT_REDIS === 'cluster' ? 'cluster' : 'single';
}

/** Per-test vitest timeout: generous enough for the long profile on a busy two-core machine. */
export const FAULT_TEST_TIMEOUT_MS = 600_000;

/** Timeout of hooks that start or stop a cluster (three tsx node processes, Redis, haproxy, the fake). */
export const FAULT_HOOK_TIMEOUT_MS = 180_000;

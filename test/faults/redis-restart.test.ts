import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'vitest';
import { useFaultCluster } from './support/fault-cluster.js';
import { FAULT_TEST_TIMEOUT_MS, faultProfile, faultRedisEngine } from './support/fault-profile.js';
import { expectNoMessageLost } from './support/fault-scenario.js';
import { clusterOf, kfMaster } from './support/redis-cluster-faults.js';
import { runRedisFaultUnderLoad } from './support/redis-load-scenario.js';

const profile = faultProfile();
const engine = faultRedisEngine();

describe(`fault suite (${profile.length}, ${engine === 'single' ? 'one Redis' : 'Redis Cluster'}): Redis restarted under load`, () => {
  const stack = useFaultCluster({ restartsRedis: true });

  if (engine === 'single') {
    it(
      'loses nothing when Redis is restarted (SIGTERM, append-only file replayed) mid-load',
      async () => expectNoMessageLost(await runRedisFaultUnderLoad(stack, profile, 'redis-restart', () => stack.cluster.redis.restart())),
      FAULT_TEST_TIMEOUT_MS,
    );

    it(
      'loses nothing when Redis crashes (SIGKILL) mid-load and comes back 2 s later',
      async () =>
        expectNoMessageLost(
          await runRedisFaultUnderLoad(stack, profile, 'redis-crash', async () => {
            await stack.cluster.redis.kill();
            await sleep(2_000);
            await stack.cluster.redis.restart();
          }),
        ),
      FAULT_TEST_TIMEOUT_MS,
    );
  } else {
    it(
      'loses nothing when every node of the Redis Cluster is restarted at once (SIGTERM, append-only files replayed) mid-load',
      async () =>
        expectNoMessageLost(
          await runRedisFaultUnderLoad(stack, profile, 'redis-cluster-restart', async () => {
            const redis = clusterOf(stack.cluster);
            await Promise.all(redis.nodes.map((n) => n.restart()));
            await redis.waitHealthy();
          }),
        ),
      FAULT_TEST_TIMEOUT_MS,
    );

    it(
      'loses nothing when the kf account’s master crashes (SIGKILL) mid-load and comes back 2 s later, its replica promoted meanwhile',
      async () =>
        expectNoMessageLost(
          await runRedisFaultUnderLoad(stack, profile, 'redis-cluster-crash', async () => {
            const redis = clusterOf(stack.cluster);
            const master = await kfMaster(stack.cluster);
            await master.kill();
            await sleep(2_000);
            // Back as a replica of the node that took its slots, so the cluster is whole for what follows.
            await master.restart();
            await redis.waitHealthy();
            return { 'crashed master': `:${master.port}` };
          }),
        ),
      FAULT_TEST_TIMEOUT_MS,
    );
  }
});

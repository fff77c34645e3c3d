import { describe, expect, it } from 'vitest';
import { useFaultCluster } from './support/fault-cluster.js';
import { FAULT_TEST_TIMEOUT_MS, faultProfile } from './support/fault-profile.js';
import { expectNoMessageLost } from './support/fault-scenario.js';
import { busiestQueueMaster, kfMaster, killMaster } from './support/redis-cluster-faults.js';
import { runRedisFaultUnderLoad } from './support/redis-load-scenario.js';

const profile = faultProfile();

// Always on a Redis Cluster (whatever FAULT_REDIS says): the failover the issue names, under the suite's load.
describe(`fault suite (${profile.length}, Redis Cluster): masters SIGKILLed under load, replicas promoted`, () => {
  const stack = useFaultCluster({ engine: 'cluster' });

  it(
    'loses, duplicates and reorders nothing when the kf account’s master and then a master holding gateway queues are SIGKILLed mid-load',
    async () => {
      let queuesOnVictim = 0;
      const result = await runRedisFaultUnderLoad(stack, profile, 'redis-cluster-master-kill', async (gatewayIds) => {
        // First the shard holding the sync cursor and lease, then (its replica promoted) the one holding the most
        // queues: appends and deliveries in flight on it when it dies.
        const first = await killMaster(stack.cluster, await kfMaster(stack.cluster), 'kf');
        const { master, queues } = await busiestQueueMaster(stack.cluster, gatewayIds);
        queuesOnVictim = queues;
        const second = await killMaster(stack.cluster, master, 'queue');
        return { ...first, ...second, 'queues on the second master': queues };
      });
      expect(queuesOnVictim, 'gateway queues on the second master killed').toBeGreaterThan(0);
      expectNoMessageLost(result);
    },
    FAULT_TEST_TIMEOUT_MS,
  );
});

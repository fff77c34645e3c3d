import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MIN_REDIS_CLUSTER_VERSION, MIN_REDIS_VERSION } from '../../src/state/redis/redis-preflight.js';
import { REPLICA_BARRIER_TIMEOUT_MS } from '../../src/state/redis/redis-replica-barrier.js';
import { redisConnectionName } from '../../src/state/redis/redis-cluster-client.js';

const readme = readFileSync(new URL('../../../../README.md', import.meta.url), 'utf8');
const operations = readFileSync(new URL('../../../../docs/operations.md', import.meta.url), 'utf8');
const section = readme.slice(readme.indexOf('### The Redis a cluster runs on'), readme.indexOf('## Tests and benchmarks'));
const majorMinor = (version: string) => version.split('.').slice(0, 2).join('.');

// What the README says the relay demands of its Redis, held to the constants the code checks and waits with.
describe('README: what the relay demands of the Redis it is given', () => {
  it('names the oldest Redis the start-up check accepts, alone and as a cluster', () => {
    expect(section).toContain(`Redis ${majorMinor(MIN_REDIS_VERSION)} or later; ${majorMinor(MIN_REDIS_CLUSTER_VERSION)} or later for a Redis Cluster`);
  });

  it('states the replica wait as the barrier runs it, here and in docs/operations.md', () => {
    expect(section).toContain(`\`WAIT 1 ${REPLICA_BARRIER_TIMEOUT_MS}\``);
    expect(section).toContain(`within ${REPLICA_BARRIER_TIMEOUT_MS} ms`);
    expect(operations).toContain(`\`WAIT 1 ${REPLICA_BARRIER_TIMEOUT_MS}\``);
  });

  it('names the connections as CLIENT SETNAME names them', () => {
    expect(section).toContain(`\`${redisConnectionName('<NODE_ID>', 'commands')}\``);
    expect(section).toContain(`\`${redisConnectionName('<NODE_ID>', 'bus')}\``);
  });

  it('asks for noeviction, as the start-up check does', () => {
    expect(section).toContain('`maxmemory-policy noeviction`');
    expect(readFileSync(new URL('../../src/state/redis/redis-preflight.ts', import.meta.url), 'utf8')).toContain("'noeviction'");
  });
});

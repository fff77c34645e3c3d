export { testCorp } from './test-corp.js';
export type { TestCorp } from './test-corp.js';
export { ManagedProcess, ProcessStartError, childEnv } from './managed-process.js';
export type { ExitInfo, ManagedProcessOptions } from './managed-process.js';
export { spawnFakeWecom } from './spawn-fake-wecom.js';
export type { SpawnFakeWecomOptions, FakeWecomHandle, FakeWecomControlClient } from './spawn-fake-wecom.js';
export { spawnRelayNode, reserveRelayPorts, relayEnvFor } from './spawn-relay-node.js';
export type { RelayNodeEnv, RelayNodeHandle, RelayPorts, SpawnRelayNodeOptions } from './spawn-relay-node.js';
export { REPO_ROOT, RELAY_NODE_FLAGS, TSX_BIN, repoPath } from './repo-paths.js';

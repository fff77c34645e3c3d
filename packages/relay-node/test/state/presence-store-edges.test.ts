import { describe, expect, it } from 'vitest';
import { MemoryPresenceMap } from '../../src/state/memory/index.js';
import { manualClock } from './store-edges-kit.js';

const DETAILS = { since: 1_700_000_000_000, dialect: 'plain', delivery: 'acked' };

describe('MemoryPresenceMap edges', () => {
  it('a release naming another node changes nothing, even with the right generation', async () => {
    const presence = new MemoryPresenceMap();
    await presence.heartbeat('node-a', 60_000);
    const claim = await presence.claim('gw-1', 'node-a');
    expect(await presence.release('gw-1', 'node-b', claim.generation)).toBe(false);
    expect(await presence.lookup('gw-1')).toEqual({ nodeId: 'node-a', generation: claim.generation });
  });

  it('a node is no longer alive exactly when its ttl has passed', async () => {
    const clock = manualClock();
    const presence = new MemoryPresenceMap({ now: clock.now });
    await presence.heartbeat('node-a', 1_000);
    clock.advance(1_000);
    expect(await presence.heartbeat('node-a', 1_000)).toBe(false);
    clock.advance(999);
    expect(await presence.heartbeat('node-a', 1_000)).toBe(true);
  });

  it('a node is fresh until two thirds of its ttl after its last beat, and owns its gateways until the ttl', async () => {
    const clock = manualClock();
    const presence = new MemoryPresenceMap({ now: clock.now });
    await presence.heartbeat('node-a', 15_000);
    await presence.heartbeat('node-dead', 15_000);
    const claim = await presence.claim('gw-1', 'node-dead');
    clock.advance(10_000);
    await presence.heartbeat('node-a', 15_000);
    expect(await presence.liveNodes()).toEqual([
      { nodeId: 'node-a', gateways: 0, fresh: true },
      { nodeId: 'node-dead', gateways: 1, fresh: true },
    ]);
    clock.advance(1);
    expect(await presence.liveNodes()).toEqual([
      { nodeId: 'node-a', gateways: 0, fresh: true },
      { nodeId: 'node-dead', gateways: 1, fresh: false },
    ]);
    // Ownership still goes by the ttl alone.
    expect(await presence.lookup('gw-1')).toEqual({ nodeId: 'node-dead', generation: claim.generation });
    expect(await presence.details('gw-1')).toEqual({ owner: { nodeId: 'node-dead', generation: claim.generation }, details: null });
    expect(await presence.ownedBy('node-dead')).toEqual(['gw-1']);
    expect(await presence.countOwnedBy('node-dead')).toBe(1);
    clock.advance(4_998);
    expect((await presence.liveNodes()).map((n) => n.nodeId)).toEqual(['node-a', 'node-dead']);
    clock.advance(1);
    expect(await presence.liveNodes()).toEqual([{ nodeId: 'node-a', gateways: 0, fresh: true }]);
    expect(await presence.lookup('gw-1')).toBeNull();
  });

  it('lists live nodes and a node’s gateways in sorted order', async () => {
    const presence = new MemoryPresenceMap();
    for (const node of ['node-c', 'node-a', 'node-b']) await presence.heartbeat(node, 60_000);
    for (const gw of ['gw-3', 'gw-1', 'gw-2']) await presence.claim(gw, 'node-b');
    expect(await presence.liveNodes()).toEqual([
      { nodeId: 'node-a', gateways: 0, fresh: true },
      { nodeId: 'node-b', gateways: 3, fresh: true },
      { nodeId: 'node-c', gateways: 0, fresh: true },
    ]);
    expect(await presence.ownedBy('node-b')).toEqual(['gw-1', 'gw-2', 'gw-3']);
  });

  it('connection details are kept only for the current generation; a late older one does not overwrite them', async () => {
    const presence = new MemoryPresenceMap();
    await presence.heartbeat('node-a', 60_000);
    const older = await presence.claim('gw-1', 'node-a');
    const newer = await presence.claim('gw-1', 'node-a');
    await presence.describe('gw-1', newer.generation, DETAILS);
    await presence.describe('gw-1', older.generation, { ...DETAILS, dialect: 'cs' });
    expect(await presence.details('gw-1')).toEqual({ owner: { nodeId: 'node-a', generation: newer.generation }, details: DETAILS });
    await presence.describe('gw-unknown', 1, DETAILS);
    expect(await presence.details('gw-unknown')).toBeNull();
  });
});

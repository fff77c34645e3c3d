import { describe, expect, it } from 'vitest';
import type { BindingStore, PresenceMap } from '../../../src/state/index.js';
import { LONG_TTL_MS, PAST_SHORT_TTL_MS, SHORT_TTL_MS, tracked } from './contract-helpers.js';
import { setTimeout as sleep } from 'node:timers/promises';


/** PresenceMap, as operators and rebalancing read it: live nodes with their loads, a node's gateways, connection details. */
export function presenceDirectoryContract(name: string, make: () => Promise<PresenceMap>): void {
  describe(`PresenceMap directory contract: ${name}`, () => {
    const fresh = tracked(make);

    it('lists live nodes with their gateway counts, and a node’s gateways', async () => {
      const presence = await fresh();
      expect(await presence.liveNodes()).toEqual([]);
      await presence.heartbeat('node-a', LONG_TTL_MS);
      await presence.heartbeat('node-b', LONG_TTL_MS);
      await presence.claim('gw-1', 'node-a');
      await presence.claim('gw-2', 'node-a');
      const moved = await presence.claim('gw-3', 'node-a');
      await presence.claim('gw-3', 'node-b');
      expect(await presence.liveNodes()).toEqual([
        { nodeId: 'node-a', gateways: 2, fresh: true },
        { nodeId: 'node-b', gateways: 1, fresh: true },
      ]);
      expect(await presence.ownedBy('node-a')).toEqual(['gw-1', 'gw-2']);
      expect(await presence.ownedBy('node-b')).toEqual(['gw-3']);
      expect(await presence.release('gw-3', 'node-a', moved.generation)).toBe(false);
      expect(await presence.ownedBy('node-c')).toEqual([]);
    });

    it('a node whose heartbeat lapsed is not listed and holds nothing', async () => {
      const presence = await fresh();
      await presence.heartbeat('node-a', LONG_TTL_MS);
      await presence.heartbeat('node-dead', SHORT_TTL_MS);
      await presence.claim('gw-1', 'node-dead');
      await sleep(PAST_SHORT_TTL_MS);
      expect(await presence.liveNodes()).toEqual([{ nodeId: 'node-a', gateways: 0, fresh: true }]);
      expect(await presence.ownedBy('node-dead')).toEqual([]);
    });

    it('keeps connection details for the current generation only', async () => {
      const presence = await fresh();
      await presence.heartbeat('node-a', LONG_TTL_MS);
      expect(await presence.details('gw-1')).toBeNull();
      const first = await presence.claim('gw-1', 'node-a');
      expect(await presence.details('gw-1')).toEqual({ owner: { nodeId: 'node-a', generation: first.generation }, details: null });
      await presence.describe('gw-1', first.generation, { since: 1_700_000_000_000, dialect: 'plain', delivery: 'ack' });
      expect(await presence.details('gw-1')).toEqual({
        owner: { nodeId: 'node-a', generation: first.generation },
        details: { since: 1_700_000_000_000, dialect: 'plain', delivery: 'ack' },
      });
      const second = await presence.claim('gw-1', 'node-a');
      // A late write from the superseded socket changes nothing.
      await presence.describe('gw-1', first.generation, { since: 1, dialect: 'cs', delivery: 'legacy' });
      expect((await presence.details('gw-1'))?.details).toBeNull();
      await presence.describe('gw-1', second.generation, { since: 2, dialect: 'cs', delivery: 'legacy' });
      expect((await presence.details('gw-1'))?.details).toEqual({ since: 2, dialect: 'cs', delivery: 'legacy' });
      await presence.release('gw-1', 'node-a', second.generation);
      expect(await presence.details('gw-1')).toBeNull();
    });
  });
}

/** BindingStore.unbind: one user at a time. */
export function bindingUnbindContract(name: string, make: () => Promise<BindingStore>): void {
  describe(`BindingStore unbind contract: ${name}`, () => {
    const fresh = tracked(make);

    it('removes one user’s binding and reports the gateway it was on', async () => {
      const bindings = await fresh();
      await bindings.bind('wm-1', 'gw-1');
      await bindings.bind('wm-2', 'gw-1');
      expect(await bindings.unbind('wm-1')).toBe('gw-1');
      expect(await bindings.gatewayFor('wm-1')).toBeNull();
      expect(await bindings.usersOf('gw-1')).toEqual(['wm-2']);
      expect(await bindings.unbind('wm-1')).toBeNull();
      expect(await bindings.unbind('wm-never')).toBeNull();
      await bindings.bind('wm-1', 'gw-2');
      expect(await bindings.usersOf('gw-2')).toEqual(['wm-1']);
      expect(await bindings.usersOf('gw-1')).toEqual(['wm-2']);
    });
  });
}

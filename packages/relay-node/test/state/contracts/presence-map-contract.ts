import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { PresenceMap } from '../../../src/state/index.js';
import { SHORT_TTL_MS, PAST_SHORT_TTL_MS, LONG_TTL_MS, tracked } from './contract-helpers.js';

/** PresenceMap: which node holds each gateway; newer claims win; dead nodes hold nothing. */
export function presenceMapContract(name: string, make: () => Promise<PresenceMap>): void {
  describe(`PresenceMap contract: ${name}`, () => {
    const fresh = tracked(make);

    it('an unclaimed gateway has no owner', async () => {
      const presence = await fresh();
      expect(await presence.lookup('gw-1')).toBeNull();
      expect(await presence.countOwnedBy('node-a')).toBe(0);
    });

    it('a newer claim wins with a higher generation and reports the previous owner', async () => {
      const presence = await fresh();
      await presence.heartbeat('node-a', LONG_TTL_MS);
      await presence.heartbeat('node-b', LONG_TTL_MS);
      const first = await presence.claim('gw-1', 'node-a');
      expect(first.previous).toBeNull();
      expect(await presence.lookup('gw-1')).toEqual({ nodeId: 'node-a', generation: first.generation });
      const second = await presence.claim('gw-1', 'node-b');
      expect(second.generation).toBeGreaterThan(first.generation);
      expect(second.previous).toEqual({ nodeId: 'node-a', generation: first.generation });
      expect(await presence.lookup('gw-1')).toEqual({ nodeId: 'node-b', generation: second.generation });
    });

    it('a reconnect to the same node also supersedes the older connection', async () => {
      const presence = await fresh();
      await presence.heartbeat('node-a', LONG_TTL_MS);
      const first = await presence.claim('gw-1', 'node-a');
      const second = await presence.claim('gw-1', 'node-a');
      expect(second.generation).toBeGreaterThan(first.generation);
      expect(second.previous).toEqual({ nodeId: 'node-a', generation: first.generation });
      expect(await presence.release('gw-1', 'node-a', first.generation)).toBe(false);
      expect(await presence.lookup('gw-1')).toEqual({ nodeId: 'node-a', generation: second.generation });
    });

    it('a stale release changes nothing; the current owner’s release clears the gateway', async () => {
      const presence = await fresh();
      await presence.heartbeat('node-a', LONG_TTL_MS);
      await presence.heartbeat('node-b', LONG_TTL_MS);
      const first = await presence.claim('gw-1', 'node-a');
      const second = await presence.claim('gw-1', 'node-b');
      expect(await presence.release('gw-1', 'node-a', first.generation)).toBe(false);
      expect(await presence.release('gw-1', 'node-b', first.generation)).toBe(false);
      expect(await presence.lookup('gw-1')).toEqual({ nodeId: 'node-b', generation: second.generation });
      expect(await presence.release('gw-1', 'node-b', second.generation)).toBe(true);
      expect(await presence.lookup('gw-1')).toBeNull();
      expect(await presence.release('gw-1', 'node-b', second.generation)).toBe(false);
    });

    it('generations keep increasing across release and reclaim', async () => {
      const presence = await fresh();
      await presence.heartbeat('node-a', LONG_TTL_MS);
      const first = await presence.claim('gw-1', 'node-a');
      await presence.release('gw-1', 'node-a', first.generation);
      const second = await presence.claim('gw-1', 'node-a');
      expect(second.generation).toBeGreaterThan(first.generation);
      expect(second.previous).toBeNull();
    });

    it('counts the gateways each node holds', async () => {
      const presence = await fresh();
      await presence.heartbeat('node-a', LONG_TTL_MS);
      await presence.heartbeat('node-b', LONG_TTL_MS);
      await presence.claim('gw-1', 'node-a');
      await presence.claim('gw-2', 'node-a');
      await presence.claim('gw-3', 'node-b');
      await presence.claim('gw-2', 'node-b');
      expect(await presence.countOwnedBy('node-a')).toBe(1);
      expect(await presence.countOwnedBy('node-b')).toBe(2);
    });

    it('a node whose heartbeat lapses holds nothing, and a new claim does not report it', async () => {
      const presence = await fresh();
      await presence.heartbeat('node-dying', SHORT_TTL_MS);
      await presence.heartbeat('node-alive', LONG_TTL_MS);
      await presence.claim('gw-1', 'node-dying');
      await presence.claim('gw-2', 'node-alive');
      expect((await presence.lookup('gw-1'))?.nodeId).toBe('node-dying');
      await sleep(PAST_SHORT_TTL_MS);
      expect(await presence.lookup('gw-1')).toBeNull();
      expect(await presence.countOwnedBy('node-dying')).toBe(0);
      expect((await presence.lookup('gw-2'))?.nodeId).toBe('node-alive');
      const taken = await presence.claim('gw-1', 'node-alive');
      expect(taken.previous).toBeNull();
      expect(await presence.lookup('gw-1')).toEqual({ nodeId: 'node-alive', generation: taken.generation });
    });

    it('a heartbeat says whether the node was still known alive (not on the first beat, nor after a lapse)', async () => {
      const presence = await fresh();
      expect(await presence.heartbeat('node-a', SHORT_TTL_MS)).toBe(false);
      expect(await presence.heartbeat('node-a', SHORT_TTL_MS)).toBe(true);
      await sleep(PAST_SHORT_TTL_MS);
      expect(await presence.heartbeat('node-a', LONG_TTL_MS)).toBe(false);
      expect(await presence.heartbeat('node-b', LONG_TTL_MS)).toBe(false);
    });

    it('a heartbeat keeps a node alive past its earlier ttl', async () => {
      const presence = await fresh();
      await presence.heartbeat('node-a', 300);
      await presence.claim('gw-1', 'node-a');
      await presence.heartbeat('node-a', LONG_TTL_MS);
      await sleep(450);
      expect((await presence.lookup('gw-1'))?.nodeId).toBe('node-a');
    });
  });
}

import type { QueuedEvent } from '@wecom-relay/shared';
import { afterEach, describe, expect, it } from 'vitest';
import type { BusMessage, NodeBus } from '../../../src/state/index.js';

/** NodeBus: messages addressed to one node's channel. `make` gives two nodes' buses on one backend. */
export function nodeBusContract(name: string, make: () => Promise<{ a: NodeBus; b: NodeBus }>): void {
  describe(`NodeBus contract: ${name}`, () => {
    const pairs: Array<{ a: NodeBus; b: NodeBus }> = [];
    afterEach(async () => {
      for (const { a, b } of pairs.splice(0)) {
        await a.close();
        await b.close();
      }
    });
    const fresh = async (): Promise<{ a: NodeBus; b: NodeBus }> => {
      const pair = await make();
      pairs.push(pair);
      return pair;
    };

    /** Subscribes and returns the received list plus a way to wait for the n-th message. */
    async function listen(bus: NodeBus, nodeId: string) {
      const received: BusMessage[] = [];
      const waiters: Array<{ count: number; resolve: () => void }> = [];
      await bus.subscribe(nodeId, (message) => {
        received.push(message);
        for (const waiter of waiters.filter((w) => received.length >= w.count)) waiter.resolve();
      });
      const until = (count: number): Promise<void> =>
        received.length >= count ? Promise.resolve() : new Promise((resolve) => waiters.push({ count, resolve }));
      return { received, until };
    }

    it('is not live before subscribing and is live once subscribe resolves', async () => {
      const { a } = await fresh();
      expect(a.isLive()).toBe(false);
      await a.subscribe('node-a', () => {});
      expect(a.isLive()).toBe(true);
    });

    it('a publish reaches only the addressed node, in order', async () => {
      const { a, b } = await fresh();
      const atA = await listen(a, 'node-a');
      const atB = await listen(b, 'node-b');
      const wake1: BusMessage = { kind: 'wake', gatewayId: 'gw-1', sentAt: 1_700_000_000_000 };
      const wake2: BusMessage = { kind: 'wake', gatewayId: 'gw-2', sentAt: 1_700_000_000_001 };
      const superseded: BusMessage = { kind: 'superseded', gatewayId: 'gw-3', generation: 7 };
      expect(await b.publish('node-a', wake1)).toBe(true);
      expect(await b.publish('node-a', wake2)).toBe(true);
      expect(await a.publish('node-b', superseded)).toBe(true);
      await Promise.all([atA.until(2), atB.until(1)]);
      // One more round trip to each, so a stray copy of an earlier message would have arrived by now.
      const marker: BusMessage = { kind: 'wake', gatewayId: 'marker', sentAt: 0 };
      await a.publish('node-a', marker);
      await a.publish('node-b', marker);
      await Promise.all([atA.until(3), atB.until(2)]);
      expect(atA.received).toEqual([wake1, wake2, marker]);
      expect(atB.received).toEqual([superseded, marker]);
    });

    it('carries a wake-up naming several gateways, and the single-gateway wake beside it', async () => {
      const { a, b } = await fresh();
      const atA = await listen(a, 'node-a');
      const many: BusMessage = { kind: 'wake-many', gatewayIds: ['gw-1', 'gw:2', '{gw-3}'], sentAt: 1_700_000_000_002 };
      const one: BusMessage = { kind: 'wake', gatewayId: 'gw-4', sentAt: 1_700_000_000_003 };
      expect(await b.publish('node-a', many)).toBe(true);
      expect(await b.publish('node-a', one)).toBe(true);
      await atA.until(2);
      expect(atA.received).toEqual([many, one]);
    });

    it('carries the items a wake-up brings along, by gateway, as they were sent', async () => {
      const { a, b } = await fresh();
      const atA = await listen(a, 'node-a');
      const event: QueuedEvent = { type: 'inbound', id: 'm-1', externalUserId: 'wm-a', msgType: 'text', content: '你好', timestamp: 1, wecomMsgType: 'text' };
      const items = [
        { id: '1700000000000-0', event, enqueuedAt: 1_700_000_000_000 },
        { id: '1700000000000-1', event: { ...event, id: 'm-2' }, enqueuedAt: 1_700_000_000_000 },
      ];
      const many: BusMessage = { kind: 'wake-many', gatewayIds: ['gw-1', 'gw-2'], sentAt: 1, runs: { 'gw-2': { after: '1699999999999-5', items } } };
      const one: BusMessage = { kind: 'wake', gatewayId: 'gw-3', sentAt: 2, run: { after: null, items: items.slice(0, 1) } };
      await b.publish('node-a', many);
      await b.publish('node-a', one);
      await atA.until(2);
      expect(atA.received).toEqual([many, one]);
    });

    it('a node can publish to itself', async () => {
      const { a } = await fresh();
      const atA = await listen(a, 'node-a');
      const message: BusMessage = { kind: 'superseded', gatewayId: 'gw-1', generation: 2 };
      expect(await a.publish('node-a', message)).toBe(true);
      await atA.until(1);
      expect(atA.received).toEqual([message]);
    });

    it('resolves false when no node listens on the channel', async () => {
      const { a, b } = await fresh();
      await listen(b, 'node-b');
      expect(await a.publish('node-nobody', { kind: 'wake', gatewayId: 'gw-1', sentAt: 1 })).toBe(false);
    });

    it('after a node closes its bus, publishing to it resolves false', async () => {
      const { a, b } = await fresh();
      await listen(a, 'node-a');
      await b.subscribe('node-b', () => {});
      expect(await b.publish('node-a', { kind: 'wake', gatewayId: 'gw-1', sentAt: 1 })).toBe(true);
      await a.close();
      expect(a.isLive()).toBe(false);
      expect(await b.publish('node-a', { kind: 'wake', gatewayId: 'gw-1', sentAt: 2 })).toBe(false);
    });

    it('a throwing handler neither reaches the publisher nor stops later messages', async () => {
      const { a, b } = await fresh();
      const received: BusMessage[] = [];
      let done: () => void = () => {};
      const second = new Promise<void>((resolve) => (done = resolve));
      await a.subscribe('node-a', (message) => {
        received.push(message);
        if (received.length === 1) throw new Error('handler bug');
        done();
      });
      expect(await b.publish('node-a', { kind: 'wake', gatewayId: 'gw-1', sentAt: 1 })).toBe(true);
      expect(await b.publish('node-a', { kind: 'wake', gatewayId: 'gw-2', sentAt: 2 })).toBe(true);
      await second;
      expect(received.map((m) => ('gatewayId' in m ? m.gatewayId : m.kind))).toEqual(['gw-1', 'gw-2']);
    });
  });
}

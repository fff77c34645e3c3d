import { describe, expect, it } from 'vitest';
import type { BindingStore } from '../../../src/state/index.js';
import { tracked, collect } from './contract-helpers.js';

/** BindingStore: user → gateway with moves, reverse lookup and bulk unbinding. */
export function bindingStoreContract(name: string, make: () => Promise<BindingStore>): void {
  describe(`BindingStore contract: ${name}`, () => {
    const fresh = tracked(make);

    it('knows no binding for an unknown user or gateway', async () => {
      const store = await fresh();
      expect(await store.gatewayFor('wm-nobody')).toBeNull();
      expect(await store.usersOf('gw-nobody')).toEqual([]);
      expect(await store.unbindAll('gw-nobody')).toEqual([]);
    });

    it('binds a user and finds them both ways', async () => {
      const store = await fresh();
      expect(await store.bind('wm-alice', 'gw-1')).toBeNull();
      expect(await store.gatewayFor('wm-alice')).toBe('gw-1');
      expect(await store.usersOf('gw-1')).toEqual(['wm-alice']);
    });

    it('rebinding moves the user and reports the gateway they left', async () => {
      const store = await fresh();
      await store.bind('wm-alice', 'gw-1');
      await store.bind('wm-bob', 'gw-1');
      expect(await store.bind('wm-alice', 'gw-2')).toBe('gw-1');
      expect(await store.gatewayFor('wm-alice')).toBe('gw-2');
      expect(await store.usersOf('gw-1')).toEqual(['wm-bob']);
      expect(await store.usersOf('gw-2')).toEqual(['wm-alice']);
    });

    it('binding again to the same gateway keeps one binding', async () => {
      const store = await fresh();
      await store.bind('wm-alice', 'gw-1');
      expect(await store.bind('wm-alice', 'gw-1')).toBe('gw-1');
      expect(await store.usersOf('gw-1')).toEqual(['wm-alice']);
    });

    it('unbindAll returns exactly that gateway’s users and leaves other gateways alone', async () => {
      const store = await fresh();
      await store.bind('wm-alice', 'gw-1');
      await store.bind('wm-bob', 'gw-1');
      await store.bind('wm-carol', 'gw-2');
      await store.bind('wm-dave', 'gw-1');
      await store.bind('wm-dave', 'gw-2');
      expect((await store.unbindAll('gw-1')).sort()).toEqual(['wm-alice', 'wm-bob']);
      expect(await store.gatewayFor('wm-alice')).toBeNull();
      expect(await store.gatewayFor('wm-bob')).toBeNull();
      expect(await store.usersOf('gw-1')).toEqual([]);
      expect((await store.usersOf('gw-2')).sort()).toEqual(['wm-carol', 'wm-dave']);
      expect(await store.unbindAll('gw-1')).toEqual([]);
      // A user unbound by unbindAll can be bound again and reports no previous gateway.
      expect(await store.bind('wm-alice', 'gw-3')).toBeNull();
    });

    it('entries lists every binding once, even while the caller uses the store between items', async () => {
      const store = await fresh();
      const expected: Array<[string, string]> = [];
      for (let i = 0; i < 1200; i += 1) {
        const user = `wm-user-${String(i).padStart(4, '0')}`;
        const gateway = `gw-${i % 7}`;
        await store.bind(user, gateway);
        expected.push([user, gateway]);
      }
      const seen: Array<[string, string]> = [];
      for await (const entry of store.entries()) {
        seen.push(entry);
        // Callers look things up mid-walk (export tools, migrations); a store must not be busy meanwhile.
        if (seen.length % 100 === 0) expect(await store.gatewayFor(entry[0])).toBe(entry[1]);
      }
      const byUser = (a: [string, string], b: [string, string]): number => a[0].localeCompare(b[0]);
      expect(seen.sort(byUser)).toEqual(expected.sort(byUser));
    });

    it('entries of an empty store yields nothing', async () => {
      const store = await fresh();
      expect(await collect(store.entries())).toEqual([]);
    });

    it('bindInOrder applies binding events in WeCom order: older refused, the same event again changes nothing', async () => {
      const store = await fresh();
      expect(await store.bindInOrder('wm-alice', 'gw-1', { at: 100, eventId: 'scan-1' })).toEqual({ outcome: 'bound', previous: null });
      expect(await store.bindInOrder('wm-alice', 'gw-2', { at: 105, eventId: 'scan-2' })).toEqual({ outcome: 'bound', previous: 'gw-1' });
      // A puller replaying the older scan (stale lease holder, re-pulled page) cannot move the user back.
      expect(await store.bindInOrder('wm-alice', 'gw-1', { at: 100, eventId: 'scan-1' })).toEqual({ outcome: 'stale', previous: 'gw-2' });
      expect(await store.bindInOrder('wm-alice', 'gw-2', { at: 105, eventId: 'scan-2' })).toEqual({ outcome: 'repeat', previous: 'gw-2' });
      expect(await store.gatewayFor('wm-alice')).toBe('gw-2');
      expect(await store.usersOf('gw-1')).toEqual([]);
      // Two events in one second both apply, in the order they come.
      expect(await store.bindInOrder('wm-alice', 'gw-3', { at: 105, eventId: 'scan-3' })).toEqual({ outcome: 'bound', previous: 'gw-2' });
      expect(await store.gatewayFor('wm-alice')).toBe('gw-3');
      expect(await store.bindInOrder('wm-bob', 'gw-1', { at: 1, eventId: 'scan-4' })).toEqual({ outcome: 'bound', previous: null });
    });

    it('remembers the kf account a binding event came in on; a binding without one reads null (the first account)', async () => {
      const store = await fresh();
      expect(await store.accountOf('wm-nobody')).toBeNull();
      await store.bind('wm-old', 'gw-1');
      expect(await store.accountOf('wm-old')).toBeNull();
      await store.bindInOrder('wm-kay', 'gw-1', { at: 10, eventId: 'e-1', openKfid: 'wk-second' });
      expect(await store.accountOf('wm-kay')).toBe('wk-second');
      // A stale event from another account changes nothing, the account included.
      await store.bindInOrder('wm-kay', 'gw-2', { at: 9, eventId: 'e-0', openKfid: 'wk-first' });
      expect(await store.accountOf('wm-kay')).toBe('wk-second');
      // A newer event through another account moves the binding and its account.
      await store.bindInOrder('wm-kay', 'gw-2', { at: 11, eventId: 'e-2', openKfid: 'wk-first' });
      expect(await store.gatewayFor('wm-kay')).toBe('gw-2');
      expect(await store.accountOf('wm-kay')).toBe('wk-first');
      // An event naming no account clears it.
      await store.bindInOrder('wm-kay', 'gw-2', { at: 12, eventId: 'e-3' });
      expect(await store.accountOf('wm-kay')).toBeNull();
      await store.bindInOrder('wm-kay', 'gw-1', { at: 13, eventId: 'e-4', openKfid: 'wk-second' });
      // An unbound user has no account, whatever was recorded before.
      await store.unbindAll('gw-1');
      expect(await store.accountOf('wm-kay')).toBeNull();
    });

    it('bindInOrder remembers the order through unbindAll, so a replayed event cannot re-bind', async () => {
      const store = await fresh();
      await store.bindInOrder('wm-alice', 'gw-1', { at: 100, eventId: 'scan-1' });
      expect(await store.unbindAll('gw-1')).toEqual(['wm-alice']);
      expect((await store.bindInOrder('wm-alice', 'gw-1', { at: 100, eventId: 'scan-1' })).outcome).toBe('repeat');
      expect((await store.bindInOrder('wm-alice', 'gw-1', { at: 99, eventId: 'scan-0' })).outcome).toBe('stale');
      expect(await store.gatewayFor('wm-alice')).toBeNull();
      expect((await store.bindInOrder('wm-alice', 'gw-1', { at: 200, eventId: 'scan-5' })).outcome).toBe('bound');
      expect(await store.usersOf('gw-1')).toEqual(['wm-alice']);
    });

    it('concurrent bindInOrder of one user: the newest event wins whatever the arrival order', async () => {
      const store = await fresh();
      const events = Array.from({ length: 10 }, (_, i) => ({ at: 1000 + i, eventId: `scan-${i}`, gatewayId: `gw-${i}` }));
      await Promise.all([...events].reverse().map((e) => store.bindInOrder('wm-alice', e.gatewayId, e)));
      expect(await store.gatewayFor('wm-alice')).toBe('gw-9');
      const holders = await Promise.all(events.map((e) => store.usersOf(e.gatewayId)));
      expect(holders.flat()).toEqual(['wm-alice']);
    });
  });
}

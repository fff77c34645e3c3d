import type { KfMessage } from '@wecom-relay/shared';
import { describe, expect, it } from 'vitest';
import { BatchEnqueuer } from '../../src/delivery/enqueue-batch.js';
import { PageRouter } from '../../src/inbound/page-router.js';
import type { BusMessage } from '../../src/state/node-bus.js';
import type { DeliveryQueue } from '../../src/state/delivery-queue.js';
import { MemoryBusHub, MemoryNodeBus, MemoryPresenceMap } from '../../src/state/memory/index.js';
import { bindingFixture } from '../binding/binding-fixture.js';

const T0 = 1_700_000_000 - 60;
const ctx = { firstPull: false, openKfid: 'wk-test' };

function text(msgid: string, user: string, content: string, sendTime: number): KfMessage {
  return { msgid, external_userid: user, open_kfid: 'wk-test', send_time: sendTime, origin: 3, msgtype: 'text', text: { content } };
}

function scan(msgid: string, user: string, token: string, sendTime: number): KfMessage {
  return {
    msgid,
    send_time: sendTime,
    origin: 4,
    msgtype: 'event',
    event: { event_type: 'enter_session', open_kfid: 'wk-test', external_userid: user, scene_param: token },
  };
}

/** The dispatcher's fixture plus a page router over a counted queue, a presence map and a bus with a second node. */
async function routerFixture() {
  const f = bindingFixture();
  const calls = { appendMany: 0, append: 0 };
  const queue: DeliveryQueue = new Proxy(f.queue, {
    get(target, prop, receiver) {
      if (prop === 'appendMany' || prop === 'append') calls[prop] += 1;
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  const presence = new MemoryPresenceMap({ now: f.clock.now });
  const hub = new MemoryBusHub();
  const bus = new MemoryNodeBus({ hub });
  const remote = new MemoryNodeBus({ hub });
  const remoteReceived: BusMessage[] = [];
  await remote.subscribe('node-b', (m) => remoteReceived.push(m));
  const localWakes: string[] = [];
  const appended = new Map<string, number>();
  const enqueuer = new BatchEnqueuer({
    nodeId: 'node-a',
    queue,
    presence,
    bus,
    delivery: {
      wakeLocal: (gatewayId) => localWakes.push(gatewayId),
      noteAppended: (gatewayId, count) => appended.set(gatewayId, (appended.get(gatewayId) ?? 0) + count),
    },
    metrics: f.metrics,
    now: f.clock.now,
  });
  const router = new PageRouter({
    dispatcher: f.dispatcher,
    bindings: f.bindings,
    ledger: f.ledger,
    dedup: f.dedup,
    enqueuer,
    logger: f.logger,
    metrics: f.metrics,
    firstPullMaxAgeMs: 10 * 60_000,
    now: f.clock.now,
  });
  return { ...f, router, presence, calls, remoteReceived, localWakes, appended, queuedIds };

  async function queuedIds(gatewayId: string): Promise<string[]> {
    return (await f.queued(gatewayId)).flatMap((e) => (e.type === 'inbound' ? [e.id] : []));
  }
}

describe('PageRouter: a pulled page routed per gateway batch', () => {
  it('appends each gateway its users\' messages in order with one append, and wakes each owning node once', async () => {
    const f = await routerFixture();
    await f.bindings.bind('wm-a', 'gw-1');
    await f.bindings.bind('wm-b', 'gw-1');
    await f.bindings.bind('wm-c', 'gw-2');
    await f.bindings.bind('wm-d', 'gw-3');
    await f.presence.heartbeat('node-a', 60_000);
    await f.presence.heartbeat('node-b', 60_000);
    await f.presence.claim('gw-1', 'node-b');
    await f.presence.claim('gw-2', 'node-b');
    await f.presence.claim('gw-3', 'node-a');
    const page = [
      text('m-1', 'wm-a', 'a1', T0),
      text('m-2', 'wm-c', 'c1', T0),
      text('m-3', 'wm-b', 'b1', T0 + 1),
      text('m-4', 'wm-a', 'a2', T0 + 1),
      text('m-5', 'wm-d', 'd1', T0 + 2),
      text('m-6', 'wm-c', 'c2', T0 + 3),
      text('m-7', 'wm-unbound', 'nobody', T0 + 3),
    ];
    await f.router.route(page, ctx);

    expect(await f.queuedIds('gw-1')).toEqual(['m-1', 'm-3', 'm-4']);
    expect(await f.queuedIds('gw-2')).toEqual(['m-2', 'm-6']);
    expect(await f.queuedIds('gw-3')).toEqual(['m-5']);
    expect(f.calls).toEqual({ appendMany: 3, append: 0 });
    expect(Object.fromEntries(f.appended)).toEqual({ 'gw-1': 3, 'gw-2': 2, 'gw-3': 1 });
    expect(f.localWakes).toEqual(['gw-3']);
    await waitFor(() => f.remoteReceived.length >= 1);
    expect(f.remoteReceived).toEqual([{ kind: 'wake-many', gatewayIds: ['gw-1', 'gw-2'], sentAt: f.clock.now() }]);
    expect(await f.count('messagesIn', { outcome: 'queued' })).toBe(6);
    expect(await f.count('messagesIn', { outcome: 'unbound' })).toBe(1);
  });

  it('a page pulled again appends nothing twice, and wakes the owners again', async () => {
    const f = await routerFixture();
    await f.bindings.bind('wm-a', 'gw-1');
    await f.presence.heartbeat('node-a', 60_000);
    await f.presence.claim('gw-1', 'node-a');
    const page = [text('m-1', 'wm-a', 'a1', T0), text('m-2', 'wm-a', 'a2', T0 + 1)];
    await f.router.route(page, ctx);
    await f.router.route(page, ctx);
    expect(await f.queuedIds('gw-1')).toEqual(['m-1', 'm-2']);
    expect(await f.count('messagesIn', { outcome: 'duplicate' })).toBe(2);
    expect(f.localWakes).toEqual(['gw-1', 'gw-1']);
  });

  it('a page handled message by message by a node of the previous version, then pulled again here, hands each message on once', async () => {
    const f = await routerFixture();
    await f.bindings.bind('wm-a', 'gw-1');
    const page = [text('m-1', 'wm-a', 'a1', T0), text('m-2', 'wm-a', 'a2', T0 + 1), text('m-3', 'wm-a', 'a3', T0 + 2)];
    // The old path got through the first message before it failed.
    await f.dispatcher.dispatch(page[0]!, ctx);
    await f.bindings.bind('wm-a', 'gw-2');
    await f.router.route(page, ctx);
    await f.router.route(page, ctx);
    expect(await f.queuedIds('gw-1')).toEqual(['m-1']);
    expect(await f.queuedIds('gw-2')).toEqual(['m-2', 'm-3']);
  });

  it('a rebind in the middle of a user\'s page applies to exactly the messages after it, also when the page comes round again', async () => {
    const f = await routerFixture();
    const g1 = await f.binding.createBinding('gw-1');
    const g2 = await f.binding.createBinding('gw-2');
    await f.router.route([scan('scan-1', 'wm-a', g1.token, T0)], ctx);
    await f.bindings.bind('wm-b', 'gw-1');
    const page = [
      text('m-1', 'wm-a', 'sent while bound to gw-1', T0 + 1),
      text('m-b1', 'wm-b', 'another user', T0 + 1),
      scan('scan-2', 'wm-a', g2.token, T0 + 2),
      text('m-2', 'wm-a', 'sent while bound to gw-2', T0 + 3),
    ];
    await f.router.route(page, ctx);
    await f.router.route(page, ctx);
    expect(await f.queuedIds('gw-1')).toEqual(['m-1', 'm-b1']);
    expect(await f.queuedIds('gw-2')).toEqual(['m-2']);
    expect(await f.bindings.gatewayFor('wm-a')).toBe('gw-2');
  });

  it('a typed binding token goes to the binding flow in its place among the user\'s messages', async () => {
    const f = await routerFixture();
    await f.bindings.bind('wm-a', 'gw-1');
    const g2 = await f.binding.createBinding('gw-2');
    await f.router.route([text('m-1', 'wm-a', 'before', T0), text('m-tok', 'wm-a', g2.token, T0 + 1), text('m-2', 'wm-a', 'after', T0 + 2)], ctx);
    expect(await f.queuedIds('gw-1')).toEqual(['m-1']);
    expect(await f.queuedIds('gw-2')).toEqual(['m-2']);
    expect(await f.count('messagesIn', { outcome: 'binding' })).toBe(1);
  });

  it('on a first pull, history older than the limit is skipped as the dispatcher skips it', async () => {
    const f = await routerFixture();
    await f.bindings.bind('wm-a', 'gw-1');
    const old = Math.floor(f.clock.now() / 1000) - 3600;
    await f.router.route([text('m-old', 'wm-a', 'old', old), text('m-new', 'wm-a', 'new', T0)], { firstPull: true, openKfid: 'wk-test' });
    expect(await f.queuedIds('gw-1')).toEqual(['m-new']);
    expect(await f.count('messagesIn', { outcome: 'history' })).toBe(1);
  });

  it('restarts the user\'s send window once per page, at their latest message', async () => {
    const f = await routerFixture();
    await f.bindings.bind('wm-a', 'gw-1');
    await f.router.route([text('m-1', 'wm-a', 'a1', T0), text('m-2', 'wm-a', 'a2', T0 + 7)], ctx);
    expect((await f.ledger.window('wk-test', 'wm-a')).lastCustomerAt).toBe((T0 + 7) * 1000);
  });

  it('restarts the window with the account each message names (the pulled account when it names none), no other', async () => {
    const f = await routerFixture();
    await f.bindings.bind('wm-a', 'gw-1');
    const onB = { ...text('m-b', 'wm-a', 'to b', T0 + 3), open_kfid: 'wk-b' };
    const unnamed = { ...text('m-c', 'wm-c', 'no account', T0 + 4), open_kfid: undefined };
    await f.router.route([text('m-1', 'wm-a', 'to test', T0), onB, unnamed], { firstPull: false, openKfid: 'wk-pulled' });
    expect((await f.ledger.window('wk-test', 'wm-a')).lastCustomerAt).toBe(T0 * 1000);
    expect((await f.ledger.window('wk-b', 'wm-a')).lastCustomerAt).toBe((T0 + 3) * 1000);
    expect((await f.ledger.window('wk-pulled', 'wm-c')).lastCustomerAt).toBe((T0 + 4) * 1000);
    expect((await f.ledger.window('wk-test', 'wm-c')).lastCustomerAt).toBeNull();
  });

  it("queues nothing before the user's window is noted, however late that note is, and nothing at all if it fails", async () => {
    const f = await routerFixture();
    await f.bindings.bind('wm-a', 'gw-1');
    const original = f.ledger.customerSpoke.bind(f.ledger);
    const seenAtAppend: Array<number | null> = [];
    const appendMany = f.queue.appendMany.bind(f.queue);
    f.queue.appendMany = async (gatewayId, entries) => {
      seenAtAppend.push((await f.ledger.window('wk-test', 'wm-a')).lastCustomerAt);
      return appendMany(gatewayId, entries);
    };
    // The note finishes well after the binding lookups and decisions that run beside it.
    f.ledger.customerSpoke = async (...args) => {
      await new Promise((r) => setTimeout(r, 30));
      return original(...args);
    };
    await f.router.route([text('m-1', 'wm-a', 'a1', T0)], ctx);
    expect(seenAtAppend).toEqual([T0 * 1000]);
    f.ledger.customerSpoke = async () => {
      throw new Error('window store unavailable');
    };
    await expect(f.router.route([text('m-2', 'wm-a', 'a2', T0 + 1)], ctx)).rejects.toThrow('window store unavailable');
    expect(await f.queuedIds('gw-1')).toEqual(['m-1']);
  });

  it('rejects when an append fails, and the page pulled again completes it once', async () => {
    const f = await routerFixture();
    await f.bindings.bind('wm-a', 'gw-1');
    await f.bindings.bind('wm-b', 'gw-2');
    const page = [text('m-1', 'wm-a', 'a1', T0), text('m-2', 'wm-b', 'b1', T0)];
    const original = f.queue.appendMany.bind(f.queue);
    f.queue.appendMany = async (gatewayId, entries) => {
      if (gatewayId === 'gw-2') throw new Error('redis went away');
      return original(gatewayId, entries);
    };
    await expect(f.router.route(page, ctx)).rejects.toThrow('redis went away');
    f.queue.appendMany = original;
    await f.router.route(page, ctx);
    expect(await f.queuedIds('gw-1')).toEqual(['m-1']);
    expect(await f.queuedIds('gw-2')).toEqual(['m-2']);
  });
});

async function waitFor(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!check()) throw new Error('condition not met within 1 s');
}

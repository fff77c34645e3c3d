import type { KfMessage } from '@wecom-relay/shared';
import { describe, expect, it } from 'vitest';
import { BatchEnqueuer } from '../../src/delivery/enqueue-batch.js';
import { PageRouter } from '../../src/inbound/page-router.js';
import type { BusMessage } from '../../src/state/node-bus.js';
import type { AppendedRun, DeliveryQueue, QueueAppendEntry } from '../../src/state/delivery-queue.js';
import type { RouteAppender } from '../../src/state/route-appender.js';
import { MemoryBusHub, MemoryNodeBus, MemoryPresenceMap } from '../../src/state/memory/index.js';
import { uniquePrefix } from '@wecom-relay/testkit';
import { RedisBindingStore, RedisDedupStore, RedisDeliveryQueue, RedisOutboundLedger, RedisPresenceMap, RedisRouteAppender } from '../../src/state/redis/index.js';
import { bindingFixture } from '../binding/binding-fixture.js';
import { ownRedisServer } from '../state-redis/helpers.js';

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

/** Where the decisions and queues live: memory stores, or a real Redis server with its route appender. */
type Stores = 'memory' | 'redis';

const own = ownRedisServer();

/**
 * The dispatcher's fixture plus a page router over a counted queue, a presence map and a bus with a second node. On
 * Redis, decisions and queues are Redis stores and the router decides and queues with the route appender, as a node
 * on one Redis server does.
 */
async function routerFixture(stores: Stores = 'memory') {
  const prefix = uniquePrefix('page-router');
  const dedup = stores === 'redis' ? new RedisDedupStore({ redis: own.redis, prefix }) : undefined;
  const redisQueue = stores === 'redis' ? new RedisDeliveryQueue({ redis: own.redis, prefix }) : undefined;
  // On Redis, bindings and windows too: the route step checks the one and notes the other.
  const redisBindings = stores === 'redis' ? new RedisBindingStore({ redis: own.redis, prefix }) : undefined;
  const redisLedger = stores === 'redis' ? new RedisOutboundLedger({ redis: own.redis, prefix }) : undefined;
  const f = bindingFixture(dedup && redisQueue ? { stores: { dedup, queue: redisQueue, bindings: redisBindings!, ledger: redisLedger! } } : {});
  // On Redis, the appender reads the owners the enqueuer wakes: one presence map for both, as in a node.
  const redisPresence = stores === 'redis' ? new RedisPresenceMap({ redis: own.redis, prefix, now: f.clock.now }) : undefined;
  const presence = redisPresence ?? new MemoryPresenceMap({ now: f.clock.now });
  const appender =
    dedup && redisQueue && redisPresence
      ? new RedisRouteAppender({ redis: own.redis, dedup, queue: redisQueue, presence: redisPresence, ledger: redisLedger!, bindings: redisBindings! })
      : undefined;
  const calls = { appendMany: 0, append: 0, decideAndAppend: 0 };
  /** Runs before every append the router makes, with the gateways appended to: a test's window into that moment. */
  const hooks: { onAppend?: (gatewayIds: string[]) => void | Promise<void> } = {};
  const queue: DeliveryQueue = new Proxy(f.queue, {
    get(target, prop, receiver) {
      if (prop === 'append') calls.append += 1;
      if (prop === 'appendMany') {
        return async (gatewayId: string, entries: readonly QueueAppendEntry[]) => {
          calls.appendMany += 1;
          await hooks.onAppend?.([gatewayId]);
          return target.appendMany(gatewayId, entries);
        };
      }
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  const counted: RouteAppender | undefined = appender && {
    checksBindings: appender.checksBindings,
    async decideAndAppend(entries, ttlMs, windows) {
      calls.decideAndAppend += 1;
      await hooks.onAppend?.([...new Set(entries.map((e) => e.gatewayId))]);
      return appender.decideAndAppend(entries, ttlMs, windows);
    },
  };
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
    ...(counted ? { appender: counted } : {}),
    enqueuer,
    logger: f.logger,
    metrics: f.metrics,
    firstPullMaxAgeMs: 10 * 60_000,
    now: f.clock.now,
  });
  // A node of the previous version: it decides and appends apart, with a queue marker per message.
  const previous = new PageRouter({
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
  /** Binds each user to its gateway, then has each gateway held by its node, every such node alive. */
  async function place(users: Record<string, string>, holders: Record<string, string>): Promise<void> {
    for (const [user, gatewayId] of Object.entries(users)) await f.bindings.bind(user, gatewayId);
    for (const nodeId of new Set(Object.values(holders))) await presence.heartbeat(nodeId, 60_000);
    for (const [gatewayId, nodeId] of Object.entries(holders)) await presence.claim(gatewayId, nodeId);
  }
  return { ...f, prefix, router, previous, presence, calls, hooks, remoteReceived, localWakes, appended, queuedIds, runOf, place };

  /** The gateway's queued items as the run a wake-up carries them in, after `after`. */
  async function runOf(gatewayId: string, after: string | null = null): Promise<AppendedRun> {
    return { after, items: await f.queue.readAfter(gatewayId, after, 100) };
  }

  async function queuedIds(gatewayId: string): Promise<string[]> {
    return (await f.queued(gatewayId)).flatMap((e) => (e.type === 'inbound' ? [e.id] : []));
  }
}

describe.each<Stores>(['memory', 'redis'])('PageRouter on %s stores: a pulled page routed per gateway batch', (stores) => {
  it('appends each gateway its users\' messages in order with one append, and wakes each owning node once', async () => {
    const f = await routerFixture(stores);
    await f.place({ 'wm-a': 'gw-1', 'wm-b': 'gw-1', 'wm-c': 'gw-2', 'wm-d': 'gw-3' }, { 'gw-1': 'node-b', 'gw-2': 'node-b', 'gw-3': 'node-a' });
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
    // One append per gateway; on one Redis server, one step that decides and appends the whole page.
    expect(f.calls).toEqual(stores === 'memory' ? { appendMany: 3, append: 0, decideAndAppend: 0 } : { appendMany: 0, append: 0, decideAndAppend: 1 });
    expect(Object.fromEntries(f.appended)).toEqual({ 'gw-1': 3, 'gw-2': 2, 'gw-3': 1 });
    expect(f.localWakes).toEqual(['gw-3']);
    await waitFor(() => f.remoteReceived.length >= 1);
    // On one Redis server the wake-up carries what the step appended, each gateway's items after its empty queue.
    const runs = stores === 'redis' ? { runs: { 'gw-1': await f.runOf('gw-1'), 'gw-2': await f.runOf('gw-2') } } : {};
    expect(f.remoteReceived).toEqual([{ kind: 'wake-many', gatewayIds: ['gw-1', 'gw-2'], sentAt: f.clock.now(), ...runs }]);
    expect(await f.count('messagesIn', { outcome: 'queued' })).toBe(6);
    expect(await f.count('messagesIn', { outcome: 'unbound' })).toBe(1);
  });

  it('a page pulled again appends nothing twice, and wakes the owners again', async () => {
    const f = await routerFixture(stores);
    await f.place({ 'wm-a': 'gw-1' }, { 'gw-1': 'node-a' });
    const page = [text('m-1', 'wm-a', 'a1', T0), text('m-2', 'wm-a', 'a2', T0 + 1)];
    await f.router.route(page, ctx);
    await f.router.route(page, ctx);
    expect(await f.queuedIds('gw-1')).toEqual(['m-1', 'm-2']);
    expect(await f.count('messagesIn', { outcome: 'duplicate' })).toBe(2);
    expect(f.localWakes).toEqual(['gw-1', 'gw-1']);
  });

  it('a page handled message by message by a node of the previous version, then pulled again here, hands each message on once', async () => {
    const f = await routerFixture(stores);
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
    const f = await routerFixture(stores);
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
    // wm-a's messages go one by one (the page rebinds wm-a) beside wm-b's: each user's order is kept, not the order between them.
    expect((await f.queuedIds('gw-1')).sort()).toEqual(['m-1', 'm-b1']);
    expect(await f.queuedIds('gw-2')).toEqual(['m-2']);
    expect(await f.bindings.gatewayFor('wm-a')).toBe('gw-2');
  });

  it('a typed binding token goes to the binding flow in its place among the user\'s messages', async () => {
    const f = await routerFixture(stores);
    await f.bindings.bind('wm-a', 'gw-1');
    const g2 = await f.binding.createBinding('gw-2');
    await f.router.route([text('m-1', 'wm-a', 'before', T0), text('m-tok', 'wm-a', g2.token, T0 + 1), text('m-2', 'wm-a', 'after', T0 + 2)], ctx);
    expect(await f.queuedIds('gw-1')).toEqual(['m-1']);
    expect(await f.queuedIds('gw-2')).toEqual(['m-2']);
    expect(await f.count('messagesIn', { outcome: 'binding' })).toBe(1);
  });

  it('on a first pull, history older than the limit is skipped as the dispatcher skips it', async () => {
    const f = await routerFixture(stores);
    await f.bindings.bind('wm-a', 'gw-1');
    const old = Math.floor(f.clock.now() / 1000) - 3600;
    await f.router.route([text('m-old', 'wm-a', 'old', old), text('m-new', 'wm-a', 'new', T0)], { firstPull: true, openKfid: 'wk-test' });
    expect(await f.queuedIds('gw-1')).toEqual(['m-new']);
    expect(await f.count('messagesIn', { outcome: 'history' })).toBe(1);
  });

  it('restarts the user\'s send window once per page, at their latest message', async () => {
    const f = await routerFixture(stores);
    await f.bindings.bind('wm-a', 'gw-1');
    await f.router.route([text('m-1', 'wm-a', 'a1', T0), text('m-2', 'wm-a', 'a2', T0 + 7)], ctx);
    expect((await f.ledger.window('wk-test', 'wm-a')).lastCustomerAt).toBe((T0 + 7) * 1000);
  });

  it('restarts the window with the account each message names (the pulled account when it names none), no other', async () => {
    const f = await routerFixture(stores);
    await f.bindings.bind('wm-a', 'gw-1');
    const onB = { ...text('m-b', 'wm-a', 'to b', T0 + 3), open_kfid: 'wk-b' };
    const unnamed = { ...text('m-c', 'wm-c', 'no account', T0 + 4), open_kfid: undefined };
    await f.router.route([text('m-1', 'wm-a', 'to test', T0), onB, unnamed], { firstPull: false, openKfid: 'wk-pulled' });
    expect((await f.ledger.window('wk-test', 'wm-a')).lastCustomerAt).toBe(T0 * 1000);
    expect((await f.ledger.window('wk-b', 'wm-a')).lastCustomerAt).toBe((T0 + 3) * 1000);
    expect((await f.ledger.window('wk-pulled', 'wm-c')).lastCustomerAt).toBe((T0 + 4) * 1000);
    expect((await f.ledger.window('wk-test', 'wm-c')).lastCustomerAt).toBeNull();
  });

  it('rejects when an append fails, and the page pulled again completes it once', async () => {
    const f = await routerFixture(stores);
    await f.bindings.bind('wm-a', 'gw-1');
    await f.bindings.bind('wm-b', 'gw-2');
    const page = [text('m-1', 'wm-a', 'a1', T0), text('m-2', 'wm-b', 'b1', T0)];
    f.hooks.onAppend = (gatewayIds) => {
      if (gatewayIds.includes('gw-2')) throw new Error('redis went away');
    };
    await expect(f.router.route(page, ctx)).rejects.toThrow('redis went away');
    delete f.hooks.onAppend;
    await f.router.route(page, ctx);
    expect(await f.queuedIds('gw-1')).toEqual(['m-1']);
    expect(await f.queuedIds('gw-2')).toEqual(['m-2']);
  });
});

describe('PageRouter without a route appender: windows noted apart', () => {
  it("queues nothing before the user's window is noted, however late that note is, and nothing at all if it fails", async () => {
    const f = await routerFixture('memory');
    await f.bindings.bind('wm-a', 'gw-1');
    const original = f.ledger.customerSpoke.bind(f.ledger);
    const seenAtAppend: Array<number | null> = [];
    f.hooks.onAppend = async () => void seenAtAppend.push((await f.ledger.window('wk-test', 'wm-a')).lastCustomerAt);
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
});

/** The users whose bindings the fixture's store is asked for from now on, in order. */
function bindingReads(f: { bindings: { gatewayFor(user: string): Promise<string | null> } }): string[] {
  const read: string[] = [];
  const gatewayFor = f.bindings.gatewayFor.bind(f.bindings);
  f.bindings.gatewayFor = async (user) => {
    read.push(user);
    return await gatewayFor(user);
  };
  return read;
}

describe('PageRouter on one Redis server: decided and queued in one step', () => {
  const page = [text('m-1', 'wm-a', 'a1', T0), text('m-2', 'wm-b', 'b1', T0), text('m-3', 'wm-a', 'a2', T0 + 1)];

  it('queues each message once, writes no queue marker, and a page pulled again appends nothing', async () => {
    const f = await routerFixture('redis');
    await f.bindings.bind('wm-a', 'gw-1');
    await f.bindings.bind('wm-b', 'gw-2');
    await f.router.route(page, ctx);
    await f.router.route(page, ctx);
    expect(await f.queuedIds('gw-1')).toEqual(['m-1', 'm-3']);
    expect(await f.queuedIds('gw-2')).toEqual(['m-2']);
    expect(await f.count('messagesIn', { outcome: 'queued' })).toBe(3);
    expect(await f.count('messagesIn', { outcome: 'duplicate' })).toBe(3);
    expect(await own.redis.keys(`${f.prefix}{gw:*}:d*`)).toEqual([]);
    expect(await f.dedup.recall('r:m-1', { at: T0 })).toBe('=gw-1');
  });

  it("notes each user's send window in the step that queues the user's messages, with no note apart", async () => {
    const f = await routerFixture('redis');
    await f.bindings.bind('wm-a', 'gw-1');
    await f.bindings.bind('wm-b', 'gw-2');
    let apart = 0;
    const original = f.ledger.customerSpoke.bind(f.ledger);
    f.ledger.customerSpoke = async (...args) => {
      apart += 1;
      return await original(...args);
    };
    await f.router.route([...page, { ...text('m-4', 'wm-a', 'a3', T0 + 2), open_kfid: 'wk-b' }], ctx);
    expect(apart).toBe(0);
    expect(await f.queuedIds('gw-1')).toEqual(['m-1', 'm-3', 'm-4']);
    // Each account's window opened by the user's latest message to it.
    expect((await f.ledger.window('wk-test', 'wm-a')).lastCustomerAt).toBe((T0 + 1) * 1000);
    expect((await f.ledger.window('wk-b', 'wm-a')).lastCustomerAt).toBe((T0 + 2) * 1000);
    expect((await f.ledger.window('wk-test', 'wm-b')).lastCustomerAt).toBe(T0 * 1000);
  });

  it('routes users seen before from the bindings it remembers: no binding read before the route step', async () => {
    const f = await routerFixture('redis');
    await f.place({ 'wm-a': 'gw-1', 'wm-b': 'gw-2' }, { 'gw-1': 'node-b', 'gw-2': 'node-b' });
    const read = bindingReads(f);
    await f.router.route(page, ctx);
    expect(read.sort()).toEqual(['wm-a', 'wm-b']);
    read.length = 0;
    await f.router.route([text('m-4', 'wm-a', 'a3', T0 + 2), text('m-5', 'wm-b', 'b2', T0 + 2)], ctx);
    expect(read).toEqual([]);
    expect(await f.queuedIds('gw-1')).toEqual(['m-1', 'm-3', 'm-4']);
    expect(await f.queuedIds('gw-2')).toEqual(['m-2', 'm-5']);
  });

  it('a remembered binding gone stale misroutes nothing: a user rebound elsewhere is queued there in order, an unbound one nowhere', async () => {
    const f = await routerFixture('redis');
    await f.place({ 'wm-a': 'gw-1', 'wm-b': 'gw-2', 'wm-c': 'gw-2' }, { 'gw-1': 'node-b', 'gw-2': 'node-b', 'gw-3': 'node-b' });
    await f.router.route([...page, text('m-c1', 'wm-c', 'c1', T0)], ctx);
    // Another node rebinds wm-a and unbinds wm-b; this router still remembers gw-1 and gw-2.
    await f.bindings.bind('wm-a', 'gw-3');
    await f.bindings.unbind('wm-b');
    const read = bindingReads(f);
    await f.router.route(
      [text('m-4', 'wm-a', 'a3', T0 + 2), text('m-5', 'wm-b', 'b2', T0 + 2), text('m-c2', 'wm-c', 'c2', T0 + 2), text('m-6', 'wm-a', 'a4', T0 + 3)],
      ctx,
    );
    expect(await f.queuedIds('gw-1')).toEqual(['m-1', 'm-3']);
    expect(await f.queuedIds('gw-2')).toEqual(['m-2', 'm-c1', 'm-c2']);
    expect(await f.queuedIds('gw-3')).toEqual(['m-4', 'm-6']);
    expect(await f.count('messagesIn', { outcome: 'unbound' })).toBe(1);
    // Only the moved users were read again; wm-a's new binding is remembered from then on.
    expect(read.sort()).toEqual(['wm-a', 'wm-b']);
    read.length = 0;
    await f.router.route([text('m-7', 'wm-a', 'a5', T0 + 4)], ctx);
    expect(read).toEqual([]);
    expect(await f.queuedIds('gw-3')).toEqual(['m-4', 'm-6', 'm-7']);
    // Pulled again, the moved messages stay where their decisions sent them.
    await f.router.route([text('m-4', 'wm-a', 'a3', T0 + 2), text('m-5', 'wm-b', 'b2', T0 + 2)], ctx);
    expect(await f.queuedIds('gw-3')).toEqual(['m-4', 'm-6', 'm-7']);
    expect(await f.count('messagesIn', { outcome: 'unbound' })).toBe(2);
  });

  it('a page queued by a node of the previous version, then pulled again here, hands each message on once; and the other way round', async () => {
    const f = await routerFixture('redis');
    await f.bindings.bind('wm-a', 'gw-1');
    await f.bindings.bind('wm-b', 'gw-2');
    await f.previous.route(page, ctx);
    await f.router.route(page, ctx);
    const later = [text('m-4', 'wm-a', 'a3', T0 + 2), text('m-5', 'wm-b', 'b2', T0 + 2)];
    await f.router.route(later, ctx);
    // Routed apart again (as on a node without the one-step path), a decision queued in one step appends nothing; the
    // previous version reads it as no gateway and drops its copy, queued already.
    await f.previous.route(later, ctx);
    expect(await f.queuedIds('gw-1')).toEqual(['m-1', 'm-3', 'm-4']);
    expect(await f.queuedIds('gw-2')).toEqual(['m-2', 'm-5']);
  });

  it('messages decided by the previous version but never queued (it stopped in between) are queued once, in order, when pulled again here', async () => {
    const f = await routerFixture('redis');
    await f.bindings.bind('wm-a', 'gw-1');
    await f.bindings.bind('wm-b', 'gw-2');
    // The previous version decided m-1 and m-2 and queued m-1 only; m-3 it never reached.
    await f.dedup.decideMany(
      [
        { key: 'r:m-1', value: '>gw-1', placement: { at: T0 } },
        { key: 'r:m-2', value: '>gw-2', placement: { at: T0 } },
      ],
      60_000,
    );
    const event = { type: 'inbound' as const, id: 'm-1', externalUserId: 'wm-a', msgType: 'text' as const, content: 'a1', timestamp: T0, wecomMsgType: 'text' };
    await f.queue.appendMany('gw-1', [{ event, options: { dedupKey: 'm-1', dedupAt: T0 } }]);
    await f.router.route(page, ctx);
    await f.router.route(page, ctx);
    expect(await f.queuedIds('gw-1')).toEqual(['m-1', 'm-3']);
    expect(await f.queuedIds('gw-2')).toEqual(['m-2']);
  });

  it('a message decided for another gateway before its user was rebound goes to that gateway once', async () => {
    const f = await routerFixture('redis');
    await f.bindings.bind('wm-a', 'gw-1');
    await f.router.route(page.slice(0, 1), ctx);
    await f.bindings.bind('wm-a', 'gw-9');
    await f.dedup.decide('r:m-3', '>gw-1', 60_000, { at: T0 + 1 });
    await f.router.route(page, ctx);
    await f.router.route(page, ctx);
    expect(await f.queuedIds('gw-1')).toEqual(['m-1', 'm-3']);
    expect(await f.queuedIds('gw-9')).toEqual([]);
  });

  it('wakes the owners the routing step read after its appends, with no lookup of its own; a gateway appended to afterwards is looked up', async () => {
    const f = await routerFixture('redis');
    await f.place({ 'wm-a': 'gw-1', 'wm-b': 'gw-2' }, { 'gw-1': 'node-b', 'gw-2': 'node-a' });
    const looked: string[] = [];
    const lookup = f.presence.lookup.bind(f.presence);
    f.presence.lookup = async (gatewayId) => {
      looked.push(gatewayId);
      return await lookup(gatewayId);
    };
    // gw-2 moves to node-b as the page is routed: the step's own read finds it there.
    f.hooks.onAppend = async () => {
      f.hooks.onAppend = undefined;
      await f.presence.claim('gw-2', 'node-b');
    };
    await f.router.route(page, ctx);
    expect(looked).toEqual([]);
    expect(f.localWakes).toEqual([]);
    await waitFor(() => f.remoteReceived.length >= 1);
    expect(f.remoteReceived).toEqual([{ kind: 'wake-many', gatewayIds: ['gw-1', 'gw-2'], sentAt: f.clock.now(), runs: { 'gw-1': await f.runOf('gw-1'), 'gw-2': await f.runOf('gw-2') } }]);
    const [gw2Last] = await f.queue.readAfter('gw-2', null, 1);

    const [gw1Last] = (await f.queue.readAfter('gw-1', null, 10)).slice(-1);

    // wm-d is bound to gw-9 now, but m-4 was decided for gw-1 before, so it is appended to gw-1 after the step (which
    // appended wm-c's m-6 there and read gw-1's owner), and gw-1 is looked up after that append.
    await f.bindings.bind('wm-d', 'gw-9');
    await f.bindings.bind('wm-c', 'gw-1');
    await f.dedup.decide('r:m-4', '>gw-1', 60_000, { at: T0 + 2 });
    await f.router.route([text('m-4', 'wm-d', 'd1', T0 + 2), text('m-5', 'wm-b', 'b2', T0 + 2), text('m-6', 'wm-c', 'c1', T0 + 2)], ctx);
    expect(await f.queuedIds('gw-1')).toEqual(['m-1', 'm-3', 'm-6', 'm-4']);
    expect(await f.queuedIds('gw-2')).toEqual(['m-2', 'm-5']);
    expect(looked).toEqual(['gw-1']);
    await waitFor(() => f.remoteReceived.length >= 3);
    // The step's wake-up carries what it appended, each after what its gateway held; then gw-1 again for m-4, appended
    // after the step: its owner reads the queue.
    expect(f.remoteReceived[1]).toEqual({
      kind: 'wake-many',
      gatewayIds: ['gw-2', 'gw-1'],
      sentAt: f.clock.now(),
      runs: { 'gw-2': await f.runOf('gw-2', gw2Last!.id), 'gw-1': { after: gw1Last!.id, items: (await f.runOf('gw-1', gw1Last!.id)).items.slice(0, 1) } },
    });
    expect(f.remoteReceived[2]).toEqual({ kind: 'wake', gatewayId: 'gw-1', sentAt: f.clock.now() });
  });

  it("wakes each route step's owners as soon as that step is done, while the page's later steps are still in Redis; each user's messages stay in one step, in order", async () => {
    const f = await routerFixture('redis');
    // 90 messages: wm-a writes every other one (to gw-1 on node-b), the rest come from 45 users of gw-2, also on node-b.
    // The first step takes the users of the first 25 messages (wm-a and 12 others) with all their messages, 57; the
    // second the other 33 users.
    const users: Record<string, string> = { 'wm-a': 'gw-1' };
    for (let u = 0; u < 45; u++) users[`wm-${u}`] = 'gw-2';
    await f.place(users, { 'gw-1': 'node-b', 'gw-2': 'node-b' });
    const page = Array.from({ length: 90 }, (_, i) => (i % 2 === 0 ? text(`a-${i}`, 'wm-a', `a${i}`, T0 + i) : text(`o-${i}`, `wm-${(i - 1) / 2}`, `o${i}`, T0 + i)));
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    f.hooks.onAppend = async () => {
      // The first step goes through; the second is held until the test has seen the first one's wake-up.
      if (f.calls.decideAndAppend >= 2) await held;
    };
    const routed = f.router.route(page, ctx);
    await waitFor(() => f.remoteReceived.length >= 1);
    expect(f.calls.decideAndAppend).toBe(2);
    const first = f.remoteReceived[0] as { kind: string; runs: Record<string, { items: Array<{ event: { id: string } }> }> };
    expect(first.kind).toBe('wake-many');
    expect(first.runs['gw-1']!.items.map((i) => i.event.id)).toEqual(page.filter((_, i) => i % 2 === 0).map((m) => m.msgid));
    expect(first.runs['gw-2']!.items.map((i) => i.event.id)).toEqual(page.slice(0, 25).filter((_, i) => i % 2 === 1).map((m) => m.msgid));
    release();
    await routed;
    expect(await f.queuedIds('gw-1')).toEqual(page.filter((_, i) => i % 2 === 0).map((m) => m.msgid));
    expect(await f.queuedIds('gw-2')).toEqual(page.filter((_, i) => i % 2 === 1).map((m) => m.msgid));
    expect(f.calls.decideAndAppend).toBe(2);
    expect(f.remoteReceived).toHaveLength(2);
    // The second step woke gw-2 alone: a plain wake-up, its run carried all the same.
    expect(f.remoteReceived[1]).toMatchObject({ kind: 'wake', gatewayId: 'gw-2' });
    const carried = (f.remoteReceived as Array<{ runs?: Record<string, { items: unknown[] }>; run?: { items: unknown[] } }>).map((w) =>
      Object.values(w.runs ?? { one: w.run! }).reduce((n, run) => n + run.items.length, 0),
    );
    expect(carried).toEqual([57, 33]);
  });

  it('routes a page of 100 messages of 100 users in two route steps: 25 for the first frames, then the rest', async () => {
    const f = await routerFixture('redis');
    const users: Record<string, string> = {};
    for (let u = 0; u < 100; u++) users[`wm-${u}`] = `gw-${u % 4}`;
    await f.place(users, { 'gw-0': 'node-b', 'gw-1': 'node-b', 'gw-2': 'node-c', 'gw-3': 'node-c' });
    const page = Array.from({ length: 100 }, (_, i) => text(`p-${i}`, `wm-${i}`, `p${i}`, T0 + i));
    await f.router.route(page, ctx);
    // Each step wakes its owners: a third step would be a third wake-up of each node for the same page.
    expect(f.calls.decideAndAppend).toBe(2);
    for (let g = 0; g < 4; g++) expect(await f.queuedIds(`gw-${g}`)).toEqual(page.filter((_, i) => i % 4 === g).map((m) => m.msgid));
  });

  it('the dispatcher, pulling again a message queued in one step, queues nothing and wakes its gateway', async () => {
    const f = await routerFixture('redis');
    await f.bindings.bind('wm-a', 'gw-1');
    await f.router.route(page.slice(0, 1), ctx);
    const woken: string[] = [];
    const wake = f.delivery.wake;
    f.delivery.wake = async (gatewayId) => void woken.push(gatewayId);
    try {
      await f.dispatcher.dispatch(page[0]!, ctx);
    } finally {
      f.delivery.wake = wake;
    }
    expect(await f.queuedIds('gw-1')).toEqual(['m-1']);
    expect(woken).toEqual(['gw-1']);
    expect(await f.count('messagesIn', { outcome: 'duplicate' })).toBe(1);
  });
});

async function waitFor(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!check()) throw new Error('condition not met within 1 s');
}

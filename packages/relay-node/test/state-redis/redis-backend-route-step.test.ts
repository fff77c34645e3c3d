import type { QueuedEvent } from '@wecom-relay/shared';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { uniquePrefix } from '@wecom-relay/testkit';
import { createRedisBackend } from '../../src/state/redis-backend.js';
import type { RouteAppendEntry } from '../../src/state/route-appender.js';
import type { StateBackend } from '../../src/state/state-backend.js';
import { ownRedisServer } from './helpers.js';

/** The route step a node gets from its Redis backend: whether it checks bindings, so the page router may remember them. */
const own = ownRedisServer();
const backends: StateBackend[] = [];

afterEach(async () => {
  for (const b of backends.splice(0)) await b.close();
});

async function backend(bindings: 'redis' | 'sqlite'): Promise<StateBackend> {
  const b = await createRedisBackend({
    redis: { kind: 'url', url: own.server.url },
    bindings,
    databasePath: ':memory:',
    logger: pino({ level: 'silent' }),
    prefix: uniquePrefix('route-step'),
    nodeId: 'node-1',
  });
  backends.push(b);
  return b;
}

const AT = 1_700_000_000;
const event: QueuedEvent = { type: 'inbound', id: 'm-1', externalUserId: 'wm-a', msgType: 'text', content: 'hi', timestamp: AT, wecomMsgType: 'text' };
const entry = (gatewayId: string): RouteAppendEntry => ({ key: 'r:m-1', placement: { at: AT }, userId: 'wm-a', gatewayId, event, dedupKey: 'm-1' });

describe('the Redis backend on one server', () => {
  it('with the bindings in Redis, gives a route step that checks each binding against the ones the node stores', async () => {
    const b = await backend('redis');
    expect(b.routeAppender?.checksBindings).toBe(true);
    await b.bindings.bind('wm-a', 'gw-2');
    expect(await b.routeAppender!.decideAndAppend([entry('gw-1')], 60_000)).toEqual([{ decision: '', id: null, moved: true }]);
    expect((await b.routeAppender!.decideAndAppend([entry('gw-2')], 60_000))[0]!.decision).toBe('=gw-2');
  });

  it('with the bindings in SQLite, gives a route step that takes the gateway it is given (it cannot read them)', async () => {
    const b = await backend('sqlite');
    expect(b.routeAppender?.checksBindings).toBe(false);
    expect((await b.routeAppender!.decideAndAppend([entry('gw-1')], 60_000))[0]!.decision).toBe('=gw-1');
  });
});

/**
 * Where a new socket's deliveries start (resume_after), and which sockets an operator's shed closes, in process.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ERROR_CATALOG } from '../../src/errors/error-catalog.js';
import type { DeliveryQueue } from '../../src/state/delivery-queue.js';
import { LEVEL, capturingLogger } from './delivery-log-capture.js';
import { FakeSession, closeNodes, inbound, settle, sharedStores, startNode, until } from './delivery-harness.js';

afterEach(async () => {
  await closeNodes();
});

const RESUME_IGNORED = 'resume_after names no waiting event; resuming after the last acknowledged';

/** Appends m1..m4 and acknowledges m1; returns their ids. */
async function queuedFour(queue: DeliveryQueue): Promise<string[]> {
  const ids: string[] = [];
  for (const id of ['m1', 'm2', 'm3', 'm4']) ids.push((await queue.append('gw-1', inbound(id))) as string);
  await queue.ack('gw-1', ids[0]!);
  return ids;
}

describe('resume_after', () => {
  it('an ack-mode gateway resumes after a waiting event it names, without a note in the log', async () => {
    const stores = sharedStores();
    const ids = await queuedFour(stores.queue);
    const log = capturingLogger();
    const node = await startNode('node-a', stores, { logger: log.logger });
    const session = new FakeSession('gw-1', { delivery: 'ack', resumeAfter: ids[2] });
    await node.attach(session, async () => {});
    await until(() => session.frames.length === 1, 'm4');
    expect(session.inboundIds()).toEqual(['m4']);
    expect(log.messages()).not.toContain(RESUME_IGNORED);
  });

  it('resume_after equal to the last acknowledged id, or absent, starts there without a note', async () => {
    const stores = sharedStores();
    const ids = await queuedFour(stores.queue);
    const log = capturingLogger();
    const node = await startNode('node-a', stores, { logger: log.logger });
    const same = new FakeSession('gw-1', { delivery: 'ack', resumeAfter: ids[0] });
    await node.attach(same, async () => {});
    await until(() => same.frames.length === 3, 'm2..m4');
    expect(same.inboundIds()).toEqual(['m2', 'm3', 'm4']);
    const none = new FakeSession('gw-1', { delivery: 'ack' });
    await node.attach(none, async () => {});
    await until(() => none.frames.length === 3, 'm2..m4 again');
    expect(log.messages()).not.toContain(RESUME_IGNORED);
  });

  it('a legacy gateway has no resume_after: it starts after the last acknowledged event', async () => {
    const stores = sharedStores();
    const ids = await queuedFour(stores.queue);
    const node = await startNode('node-a', stores);
    const session = new FakeSession('gw-1', { resumeAfter: ids[2] });
    await node.attach(session, async () => {});
    await until(() => session.frames.length === 3, 'm2..m4');
    expect(session.inboundIds()).toEqual(['m2', 'm3', 'm4']);
  });

  it('a resume_after that names no waiting event is ignored, with a note naming the gateway', async () => {
    const stores = sharedStores();
    await queuedFour(stores.queue);
    const log = capturingLogger();
    const node = await startNode('node-a', stores, { logger: log.logger });
    const session = new FakeSession('gw-1', { delivery: 'ack', resumeAfter: '999' });
    await node.attach(session, async () => {});
    await until(() => session.frames.length === 3, 'm2..m4');
    expect(log.lines.filter((l) => l.msg === RESUME_IGNORED).map((l) => [l.level, l.gatewayId])).toEqual([[LEVEL.info, 'gw-1']]);
  });

  it('a queue that cannot be read to check resume_after does not fail the attach: it resumes after the last acknowledged', async () => {
    const stores = sharedStores();
    const ids = await queuedFour(stores.queue);
    let failures = 1;
    const queue = Object.assign(Object.create(stores.queue) as DeliveryQueue, {
      readAfter: (g: string, after: string | null, limit: number) =>
        failures-- > 0 ? Promise.reject(new Error('store down')) : stores.queue.readAfter(g, after, limit),
    });
    const node = await startNode('node-a', { ...stores, queue });
    const session = new FakeSession('gw-1', { delivery: 'ack', resumeAfter: ids[2] });
    await node.attach(session, async () => {});
    await until(() => session.frames.length === 3, 'm2..m4');
    expect(session.inboundIds()).toEqual(['m2', 'm3', 'm4']);
  });
});

describe('shed', () => {
  const RESTART = ERROR_CATALOG.SERVICE_RESTART.closeCode;

  it('closes the most recently opened sockets first, with 1012 and the reason, and says how many', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores);
    const sessions = [3_000, 1_000, 2_000].map((openedAt, i) => Object.assign(new FakeSession(`gw-${i}`), { openedAt }));
    for (const s of sessions) await node.attach(s, async () => {});
    expect(node.shed(2.9, 'rebalance')).toBe(2);
    expect(sessions.map((s) => s.closed)).toEqual([{ code: RESTART, reason: 'rebalance' }, null, { code: RESTART, reason: 'rebalance' }]);
    expect(node.shed(-1, 'rebalance')).toBe(0);
    expect(sessions[1]!.isOpen).toBe(true);
  });

  it('leaves a socket that is still attaching (binding replay running) alone', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores);
    const ready = Object.assign(new FakeSession('gw-ready'), { openedAt: 1 });
    await node.attach(ready, async () => {});
    const attaching = Object.assign(new FakeSession('gw-attaching'), { openedAt: 2 });
    let finish!: () => void;
    const pending = node.attach(attaching, () => new Promise<void>((r) => (finish = r)));
    await until(() => node.localCount() === 2, 'both registered');
    expect(node.shed(5, 'drain')).toBe(1);
    expect(attaching.isOpen).toBe(true);
    expect(ready.isOpen).toBe(false);
    finish();
    await pending;
    await settle();
  });
});

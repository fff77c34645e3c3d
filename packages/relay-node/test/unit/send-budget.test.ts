import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SendBudget } from '../../src/gateway/send-budget.js';
import { isGatewaySessionClosedError } from '../../src/gateway/session-closed-error.js';
import { mediaFootprint } from '../../src/delivery/media-inliner.js';

/** A gateway socket as the budget sees it: a buffered figure the test moves, and a record of stuck reports. */
function fakeSocket(buffered = 0) {
  const socket = { buffered, stuck: 0 };
  return { socket, hooks: { buffered: () => socket.buffered, onStuck: () => void (socket.stuck += 1) } };
}

const settled = async (p: Promise<unknown>): Promise<boolean> => {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  await vi.advanceTimersByTimeAsync(0);
  return done;
};

describe('send budget accounting', () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it('splits the budget between busy gateways and pauses the one over its share until its socket drains', async () => {
    const budget = new SendBudget({ totalBytes: 1_000, graceMs: 10_000 });
    budget.register('a', fakeSocket().hooks);
    budget.register('b', fakeSocket().hooks);
    const a1 = budget.chargeSocket('a', 600);
    expect(budget.share()).toBe(1_000);
    expect(budget.canWrite('a')).toBe(true);
    const b1 = budget.chargeSocket('b', 300);
    expect(budget.share()).toBe(500);
    expect(budget.usedBytes).toBe(900);
    expect(budget.canWrite('a')).toBe(false);
    expect(budget.canWrite('b')).toBe(true);

    const waiting = budget.whenWritable('a');
    expect(await settled(waiting)).toBe(false);
    b1.release();
    // Alone again, a's 600 fit its whole-budget share.
    expect(await settled(waiting)).toBe(true);
    a1.release();
    a1.release();
    expect(budget.usedBytes).toBe(0);
  });

  it('always lets an empty socket take one frame, even one larger than the whole budget', () => {
    const budget = new SendBudget({ totalBytes: 1_000, graceMs: 10_000 });
    budget.register('a', fakeSocket().hooks);
    budget.register('b', fakeSocket().hooks);
    budget.chargeSocket('a', 5_000);
    expect(budget.canWrite('a')).toBe(false);
    expect(budget.canWrite('b')).toBe(true);
    expect(budget.canWrite('not-a-session')).toBe(true);
  });

  it('reports a gateway that stays over its share without draining, once, after the grace period', async () => {
    const budget = new SendBudget({ totalBytes: 1_000, graceMs: 4_000, checkEveryMs: 500 });
    const stuck = fakeSocket(700);
    const reading = fakeSocket(700);
    budget.register('stuck', stuck.hooks);
    budget.register('reading', reading.hooks);
    budget.chargeSocket('stuck', 700);
    budget.chargeSocket('reading', 700);

    for (let t = 0; t < 8; t++) {
      reading.socket.buffered -= 50; // slow, but its buffer keeps draining
      await vi.advanceTimersByTimeAsync(1_000);
    }
    expect(stuck.socket.stuck).toBe(1);
    expect(reading.socket.stuck).toBe(0);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(stuck.socket.stuck).toBe(1);
  });

  it('does not report a gateway for media still being fetched while its socket is empty', async () => {
    const budget = new SendBudget({ totalBytes: 1_000, graceMs: 1_000, checkEveryMs: 100 });
    const gw = fakeSocket(0);
    budget.register('gw', gw.hooks);
    budget.register('other', fakeSocket().hooks);
    budget.chargeSocket('other', 10);
    await budget.reserveMedia('gw', 900);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(gw.socket.stuck).toBe(0);
  });

  it('holds media until it fits the node budget, lets a file larger than the budget go alone, and counts resizes', async () => {
    const budget = new SendBudget({ totalBytes: 1_000, graceMs: 10_000 });
    budget.register('a', fakeSocket().hooks);
    budget.register('b', fakeSocket().hooks);
    const big = await budget.reserveMedia('a', 3_000);
    expect(budget.usedBytes).toBe(3_000);
    const next = budget.reserveMedia('b', 400);
    expect(await settled(next)).toBe(false);
    big.resize(500);
    expect(budget.usedBytes).toBe(500);
    expect(await settled(next)).toBe(true);
    expect(budget.usedBytes).toBe(900);
  });

  it('refuses the waits of a gateway whose socket closed, and still counts its writes down as they settle', async () => {
    const budget = new SendBudget({ totalBytes: 100, graceMs: 10_000 });
    budget.register('a', fakeSocket().hooks);
    const written = budget.chargeSocket('a', 100);
    budget.chargeSocket('a', 50).release();
    const paused = budget.whenWritable('a');
    const media = budget.reserveMedia('a', 60);
    budget.unregister('a');
    await expect(paused).rejects.toSatisfy(isGatewaySessionClosedError);
    await expect(media).rejects.toSatisfy(isGatewaySessionClosedError);
    await expect(budget.reserveMedia('a', 1)).rejects.toSatisfy(isGatewaySessionClosedError);
    expect(budget.usedBytes).toBe(100);
    written.release();
    expect(budget.usedBytes).toBe(0);
  });

  it('sizes media by every copy the node makes of it: raw bytes, base64 and the frame', () => {
    expect(mediaFootprint(3 * 1024 * 1024)).toBe(3 * 1024 * 1024 + 2 * 4 * 1024 * 1024);
  });
});

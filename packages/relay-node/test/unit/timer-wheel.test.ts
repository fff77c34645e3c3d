import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { SocketHeartbeat, type HeartbeatOwner } from '../../src/gateway/socket-heartbeat.js';
import { TimerWheel } from '../../src/gateway/timer-wheel.js';

afterEach(() => void vi.useRealTimers());

describe('TimerWheel', () => {
  it('runs a callback once, no sooner than its delay and within one tick after it', async () => {
    vi.useFakeTimers();
    const wheel = new TimerWheel(100, (err) => {
      throw err;
    });
    const fired: number[] = [];
    const start = Date.now();
    wheel.after(250, () => fired.push(Date.now() - start));
    await vi.advanceTimersByTimeAsync(249);
    expect(fired).toEqual([]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(fired).toHaveLength(1);
    expect(fired[0]).toBeGreaterThanOrEqual(250);
    expect(fired[0]).toBeLessThanOrEqual(350);
  });

  it('holds one Node timer for any number of callbacks, and none once nothing is due', async () => {
    vi.useFakeTimers();
    const wheel = new TimerWheel(100, () => undefined);
    expect(vi.getTimerCount()).toBe(0);
    let ran = 0;
    const timers = Array.from({ length: 1_000 }, (_, i) => wheel.after(100 + (i % 10) * 100, () => ran++));
    expect(vi.getTimerCount()).toBe(1);
    timers[0]!.cancel();
    timers[0]!.cancel();
    expect(wheel.pending).toBe(999);
    await vi.advanceTimersByTimeAsync(1_100);
    expect(ran).toBe(999);
    expect(wheel.pending).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a cancelled callback never runs; one that throws does not keep the others from running', async () => {
    vi.useFakeTimers();
    const errors: unknown[] = [];
    const wheel = new TimerWheel(10, (err) => errors.push(err));
    const ran: string[] = [];
    wheel.after(50, () => {
      throw new Error('boom');
    });
    const cancelled = wheel.after(50, () => ran.push('cancelled'));
    wheel.after(50, () => ran.push('other'));
    cancelled.cancel();
    await vi.advanceTimersByTimeAsync(100);
    expect(ran).toEqual(['other']);
    expect(errors).toHaveLength(1);
  });
});

/** The parts of a ws socket the heartbeat touches. */
class FakeSocket extends EventEmitter {
  readyState: number = WebSocket.OPEN;
  isPaused = false;
  pings = 0;
  ping(): void {
    this.pings += 1;
  }
}

function owner(onDead: () => void): HeartbeatOwner {
  return { onHeartbeatDead: onDead, onHeartbeatError: () => undefined };
}

describe('SocketHeartbeat on a shared wheel', () => {
  it('pings every interval, reports a socket dead when no pong comes in time, and a pong keeps it alive', async () => {
    vi.useFakeTimers();
    const wheel = new TimerWheel(10, () => undefined);
    const answering = new FakeSocket();
    const mute = new FakeSocket();
    const dead: string[] = [];
    const policy = { wheel, intervalMs: 100, timeoutMs: 50 };
    const hb1 = new SocketHeartbeat(answering as unknown as WebSocket, policy, owner(() => dead.push('answering')));
    const hb2 = new SocketHeartbeat(mute as unknown as WebSocket, policy, owner(() => dead.push('mute')));
    for (let i = 0; i < 5; i++) {
      await vi.advanceTimersByTimeAsync(100);
      if (answering.pings > 0) answering.emit('pong');
    }
    expect(answering.pings).toBeGreaterThanOrEqual(4);
    expect(dead.filter((d) => d === 'answering')).toEqual([]);
    expect(dead).toContain('mute');
    // Every socket's timers are on the wheel: one Node timer for both.
    expect(vi.getTimerCount()).toBe(1);
    hb1.stop();
    hb2.stop();
    expect(wheel.pending).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('does not report a paused socket dead (its pongs are not being read)', async () => {
    vi.useFakeTimers();
    const wheel = new TimerWheel(10, () => undefined);
    const socket = new FakeSocket();
    const dead: number[] = [];
    const hb = new SocketHeartbeat(socket as unknown as WebSocket, { wheel, intervalMs: 100, timeoutMs: 50 }, owner(() => dead.push(1)));
    await vi.advanceTimersByTimeAsync(110);
    expect(socket.pings).toBe(1);
    socket.isPaused = true;
    await vi.advanceTimersByTimeAsync(500);
    expect(dead).toEqual([]);
    expect(socket.pings).toBe(1);
    hb.stop();
  });
});

import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { PendingBytePool, PreAuthGuard } from '../../src/gateway/pre-auth-guard.js';

describe('PreAuthGuard', () => {
  it('leaves nothing on the socket once stopped, so a session does not keep its guard alive', () => {
    const socket = new PassThrough();
    const before = { data: socket.listenerCount('data'), close: socket.listenerCount('close') };
    const pool = new PendingBytePool(1_000);
    const guard = new PreAuthGuard(socket, pool, 100, () => undefined);
    guard.start();
    socket.emit('data', Buffer.alloc(10));
    expect(pool.size).toBe(10);
    guard.stop();
    expect(pool.size).toBe(0);
    expect({ data: socket.listenerCount('data'), close: socket.listenerCount('close') }).toEqual(before);
  });

  it('gives its bytes back when the socket closes before the hello is read', () => {
    const socket = new PassThrough();
    const pool = new PendingBytePool(1_000);
    new PreAuthGuard(socket, pool, 100, () => undefined).start();
    socket.emit('data', Buffer.alloc(40));
    expect(pool.size).toBe(40);
    socket.emit('close');
    expect(pool.size).toBe(0);
    expect(socket.listenerCount('close')).toBe(0);
  });
});

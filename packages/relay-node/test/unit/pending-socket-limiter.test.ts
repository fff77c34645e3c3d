import { describe, expect, it } from 'vitest';
import { PendingSocketLimiter } from '../../src/gateway/pending-socket-limiter.js';
import { PendingBytePool } from '../../src/gateway/pre-auth-guard.js';
import { sourceKey } from '../../src/gateway/client-address.js';

describe('pending socket limits', () => {
  it('caps each source and the node, and frees slots as sockets leave', () => {
    const limiter = new PendingSocketLimiter(2, 3);
    const a = sourceKey('2001:db8:1:2::1');
    const sameSlash64 = sourceKey('2001:db8:1:2:9999::42');
    const b = sourceKey('198.51.100.7');
    expect(limiter.tryAcquire(a)).toBe(true);
    expect(limiter.tryAcquire(sameSlash64)).toBe(true);
    expect(limiter.tryAcquire(a)).toBe('per_source');
    expect(limiter.tryAcquire(b)).toBe(true);
    expect(limiter.tryAcquire(sourceKey('198.51.100.8'))).toBe('node');
    expect(limiter.size).toBe(3);
    limiter.release(a);
    expect(limiter.count(sameSlash64)).toBe(1);
    expect(limiter.tryAcquire(sourceKey('198.51.100.8'))).toBe(true);
    limiter.release('never-acquired');
    expect(limiter.size).toBe(3);
  });

  it('counts unauthenticated bytes node-wide and refuses what does not fit', () => {
    const pool = new PendingBytePool(100);
    expect(pool.tryAdd(60)).toBe(true);
    expect(pool.tryAdd(41)).toBe(false);
    expect(pool.tryAdd(40)).toBe(true);
    pool.release(60);
    expect(pool.size).toBe(40);
  });
});

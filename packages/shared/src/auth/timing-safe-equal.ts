import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Constant-time string comparison (false on length mismatch without leaking which byte differed).
 * Both sides are hashed first so the comparison always runs over equal-length buffers and neither
 * the position of the first difference nor the secret's length shows up in timing.
 */
export function timingSafeStringEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a, 'utf8').digest();
  const db = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(da, db);
}

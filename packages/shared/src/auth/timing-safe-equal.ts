import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Constant-time string comparison (false on length mismatch without leaking which byte differed).
 * Both sides are hashed first so the comparison always runs over equal-length buffers and neither
 * the position of the first difference nor the secret's length shows up in timing.
 */
export function timingSafeStringEqual(a: string, b: string): boolean {
  // Strings hash as UTF-8 (Node's default), so every character counts, not only its low byte.
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

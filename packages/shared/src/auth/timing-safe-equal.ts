import { hash, timingSafeEqual } from 'node:crypto';

/**
 * Constant-time string comparison (false on length mismatch without leaking which byte differed).
 * Both sides are hashed first so the comparison always runs over equal-length buffers and neither
 * the position of the first difference nor the secret's length shows up in timing.
 */
export function timingSafeStringEqual(a: string, b: string): boolean {
  // Strings hash as UTF-8 (Node's default), so every character counts, not only its low byte. One-shot hashes: every
  // callback's signature check comes here, and a hash object per call costs OpenSSL's setup each time.
  const da = hash('sha256', a, 'buffer');
  const db = hash('sha256', b, 'buffer');
  return timingSafeEqual(da, db);
}

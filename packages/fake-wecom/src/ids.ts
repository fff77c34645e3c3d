import { randomBytes } from 'node:crypto';

/** Random [0-9A-Za-z_-] text of the given length, the alphabet WeCom uses for ids and tokens. */
export function randomId(length: number): string {
  return randomBytes(Math.ceil((length * 3) / 4) + 1)
    .toString('base64url')
    .slice(0, length);
}

/** Random lowercase hex text. */
export function randomHex(length: number): string {
  return randomBytes(Math.ceil(length / 2)).toString('hex').slice(0, length);
}

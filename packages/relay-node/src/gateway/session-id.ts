import { randomUUID } from 'node:crypto';

/**
 * A random UUID as one flat string. crypto.randomUUID() builds its result by concatenating hex pairs, which V8 keeps
 * as a tree of ~14 cons-string pieces (over 400 bytes) for as long as the id lives: here, the whole session.
 */
export function newSessionId(): string {
  return Buffer.from(randomUUID(), 'latin1').toString('latin1');
}

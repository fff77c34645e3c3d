import { randomBytes } from 'node:crypto';

let counter = 0;

/**
 * A key prefix no other test (in this process or a parallel worker) uses, so tests sharing one Redis
 * never see each other's keys. Braces are stripped from the label because they would form a hash tag.
 */
export function uniquePrefix(label: string): string {
  counter += 1;
  const safe = label.replace(/[^A-Za-z0-9_-]+/g, '_').slice(0, 40) || 'test';
  return `t:${safe}:${process.pid}-${counter}-${randomBytes(3).toString('hex')}:`;
}

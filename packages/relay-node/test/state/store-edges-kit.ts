/** Shared pieces of the store edge tests: a hand-moved clock and SQLite files removed after the test file. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import { afterAll } from 'vitest';
import { openSqliteDatabase } from '../../src/state/sqlite/index.js';

/** A clock the test moves by hand (and may set back, as a wall clock can be). */
export function manualClock(start = 1_700_000_000_000): { now: () => number; advance: (ms: number) => void; set: (t: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms), set: (next) => (t = next) };
}

/** Opens fresh SQLite files in one temporary directory, all closed and removed after the test file. */
export function sqliteFiles(prefix: string): { fresh: () => Database; path: (n: number) => string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const opened: Database[] = [];
  let count = 0;
  afterAll(() => {
    for (const db of opened) if (db.open) db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const path = (n: number) => join(dir, `state-${n}.db`);
  return {
    path,
    fresh: () => {
      count += 1;
      const db = openSqliteDatabase(path(count));
      opened.push(db);
      return db;
    },
  };
}

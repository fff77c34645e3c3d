import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // End-to-end suites spawn real processes and Redis servers; two cores cannot run many at once.
    maxWorkers: 2,
    reporters: ['default'],
  },
});

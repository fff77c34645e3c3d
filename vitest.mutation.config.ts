import { defineConfig } from 'vitest/config';
// @ts-expect-error plain ES module shared with stryker.config.mjs
import { selectedScope } from './mutation-scopes.mjs';

const scope = (selectedScope as () => { tests: string[] })();

/**
 * The fast, in-process test files guarding one mutation scope (no spawned processes, no Redis, no fake-WeCom
 * server): Stryker runs them once per mutant, so they must take milliseconds.
 */
export default defineConfig({
  test: {
    include: scope.tests,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    maxWorkers: 1,
    reporters: ['dot'],
  },
});

// Mutation testing of the modules that guard the README's promises, one scope at a time, against the fast
// in-process suites only: `pnpm test:mutation <scope>` (scopes in mutation-scopes.mjs). Incremental: a rerun
// only tests mutants whose code or tests changed since the committed result file of that scope.
import { selectedScope } from './mutation-scopes.mjs';

const scope = selectedScope();

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  plugins: ['@stryker-mutator/vitest-runner'],
  mutate: scope.mutate,
  coverageAnalysis: 'perTest',
  // vitest does not type-check, so sources need no @ts-nocheck (in place, that would touch every file).
  disableTypeChecks: false,
  // The machine is shared.
  concurrency: 1,
  // Sources import each other through workspace symlinks, which a sandbox copy would not resolve.
  inPlace: true,
  incremental: true,
  incrementalFile: `reports/stryker-incremental/${scope.name}.json`,
  reporters: ['clear-text', 'progress', 'json'],
  jsonReporter: { fileName: `reports/mutation/${scope.name}.json` },
  clearTextReporter: { allowColor: false, logTests: false },
  thresholds: { high: 90, low: 80, break: null },
  timeoutMS: 10_000,
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};

import { defineConfig } from 'vitest/config';

// Tests import the TypeScript sources; anything that runs in a worker thread
// (piscina tasks, test workers) is loaded from dist/, which `npm test` builds
// first. test/helpers/paths.ts is the one place that knows that.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});

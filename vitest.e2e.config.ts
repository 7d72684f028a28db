import { defineConfig } from 'vitest/config';

/**
 * The e2e tier: real collector, Jaeger, Prometheus (and redis-server) binaries, started by the tests.
 * Run with `npm run test:e2e`, which first installs the binaries (e2e/tools/install.sh).
 */
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 300_000,
    pool: 'forks',
    // One stack at a time: the machine has two cores and the tests start several servers each.
    fileParallelism: false,
  },
});

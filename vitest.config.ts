import { defineConfig } from 'vitest/config';

/** Tests that need `globalThis.gc` run in workers started with `--expose-gc`. */
const GC_TESTS = ['test/**/*-gc.test.ts'];

export default defineConfig({
  test: {
    // e2e tests need the collector, Jaeger and Prometheus binaries; they run through `npm run test:e2e`.
    exclude: ['test/e2e/**', 'node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Fails a test whose spans or metric points held an API key, a bearer token or a cookie.
    setupFiles: ['test/helpers/secret-scan-setup.ts'],
    projects: [
      {
        extends: true,
        test: { name: 'default', include: ['test/**/*.test.ts'], exclude: [...GC_TESTS] },
      },
      {
        extends: true,
        test: { name: 'gc', include: GC_TESTS, execArgv: ['--expose-gc'] },
      },
    ],
  },
});

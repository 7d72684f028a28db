/**
 * Layering rules of src/, checked in CI by `npm run lint:deps` (dependency-cruiser). The same rules,
 * in prose, are in docs/architecture.md ("Layering rules"); keep the two in step.
 * Type-only imports count: a cycle through types is still a cycle for a reader.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'No import cycles, type-only imports included.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'policies-never-import-the-fetch',
      severity: 'error',
      comment: 'A policy wraps the next step; it never reaches back into the fetch that assembles it.',
      from: { path: '^src/policies/' },
      to: { path: '^src/(fetch|index|setup|register)\\.ts$' },
    },
    {
      name: 'telemetry-imports-no-policy',
      severity: 'error',
      comment:
        'Telemetry (names, instruments, logging) is below every policy. The clock primitives ' +
        '(policies/types.ts: Clock, Timer, Random; policies/clock.ts: systemClock) are no policy and are shared by every layer.',
      from: { path: '^src/telemetry/' },
      to: {
        path: '^src/(policies|store|sse|cli|testing)/|^src/(fetch|pipeline|options|recorder|attempt)\\.ts$',
        pathNot: '^src/policies/(types|clock)\\.ts$',
      },
    },
    {
      name: 'core-imports-no-redis',
      severity: 'error',
      comment: 'Only the ./redis entry point (src/redis.ts) and src/store/redis.ts know ioredis/redis.',
      from: { path: '^src/', pathNot: '^src/(redis\\.ts|store/redis\\.ts|cli/|testing/)' },
      to: { path: '(^|/)node_modules/(ioredis|redis)/|^src/redis\\.ts$|^src/store/redis\\.ts$' },
    },
    {
      name: 'core-imports-no-otel-sdk',
      severity: 'error',
      comment:
        'The core uses @opentelemetry/api only; the SDK packages are for setup()/register and the CLI.',
      from: { path: '^src/', pathNot: '^src/(setup|register)\\.ts$|^src/cli/' },
      to: {
        path: '(^|/)node_modules/@opentelemetry/(sdk-|exporter-|resources|core|context-|instrumentation)',
      },
    },
    {
      name: 'core-imports-no-cli',
      severity: 'error',
      comment: 'The CLI is on top: nothing outside src/cli/ imports it.',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'library-imports-no-testing',
      severity: 'error',
      comment: 'The fake API (./testing) is not part of the library core.',
      from: { path: '^src/', pathNot: '^src/(testing|cli)/' },
      to: { path: '^src/testing/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
    },
  },
};

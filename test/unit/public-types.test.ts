/**
 * The public types: every type a user writes in an options object is exported from the entry point
 * it belongs to, and each option's type is the exported one (not an inline shape the user cannot
 * name). Checked by the compiler (`npm run typecheck` compiles this file; a missing export or a
 * changed option type fails it), and at run time that the runtime exports exist.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import type {
  AttemptInfo,
  AttributeSpec,
  BackoffOptions,
  BreakerOptions,
  BreakerPolicyOptions,
  BreakerState,
  BreakerWindow,
  CachedMessage,
  CacheOptions,
  CaptureContentOptions,
  ClaudeFetch,
  ClaudeFetchOptions,
  ClaudeOtelErrorInfo,
  ClaudeRequest,
  Clock,
  ErrorBodyOptions,
  FallbackOptions,
  FleetBreakerConfig,
  FleetOptions,
  FleetStore,
  HeadroomClaim,
  HeadroomCost,
  HeadroomSnapshot,
  Logger,
  LoggingOptions,
  LogRateLimitOptions,
  MemoryFleetStoreOptions,
  PartialOutput,
  PolicyErrorType,
  ProbeGrant,
  ProbeOptions,
  Random,
  RegionConfig,
  RegionHealthOptions,
  RegionsOptions,
  ResponseStore,
  ResumeOptions,
  RetryBudgetOptions,
  RetryOptions,
  RetryPolicyOptions,
  StoredResponse,
  StoreGuardOptions,
  StoreLogger,
  TaxonomyEntry,
  ThrottleOptions,
  TimeoutKind,
  TimeoutOptions,
  Timer,
} from '../../src/index.js';
import * as root from '../../src/index.js';
import type { RedisFleetStoreOptions } from '../../src/redis.js';
import * as redis from '../../src/redis.js';
import type { OtelHandle, SetupOptions } from '../../src/setup.js';
import * as setup from '../../src/setup.js';
import type {
  FakeClaude,
  FakeClaudeOptions,
  Fault,
  RawResponse,
  RecordedRequest,
} from '../../src/testing/index.js';
import * as testing from '../../src/testing/index.js';

type Option<K extends keyof ClaudeFetchOptions> = NonNullable<ClaudeFetchOptions[K]>;

describe('public types', () => {
  it('each option of createClaudeFetch has an exported type', () => {
    expectTypeOf(root.createClaudeFetch).parameter(0).toEqualTypeOf<ClaudeFetchOptions | undefined>();
    expectTypeOf(root.createClaudeFetch).returns.toEqualTypeOf<ClaudeFetch>();
    expectTypeOf<Option<'retry'>>().toEqualTypeOf<RetryPolicyOptions | boolean>();
    expectTypeOf<RetryPolicyOptions>().toExtend<RetryOptions>();
    expectTypeOf<NonNullable<RetryPolicyOptions['budget']>>().toEqualTypeOf<RetryBudgetOptions | false>();
    expectTypeOf<NonNullable<RetryOptions['backoff']>>().toEqualTypeOf<BackoffOptions>();
    expectTypeOf<Option<'breaker'>>().toEqualTypeOf<BreakerPolicyOptions | boolean>();
    expectTypeOf<BreakerPolicyOptions>().toExtend<BreakerOptions>();
    expectTypeOf<NonNullable<BreakerOptions['window']>>().toEqualTypeOf<BreakerWindow>();
    expectTypeOf<Option<'regions'>>().toEqualTypeOf<RegionConfig[] | RegionsOptions>();
    expectTypeOf<RegionsOptions>().toExtend<RegionHealthOptions>();
    expectTypeOf<Exclude<NonNullable<RegionsOptions['probe']>, boolean>>().toExtend<ProbeOptions>();
    expectTypeOf<Option<'fallback'>>().toEqualTypeOf<FallbackOptions>();
    expectTypeOf<Option<'cache'>>().toEqualTypeOf<CacheOptions | boolean>();
    expectTypeOf<NonNullable<CacheOptions['store']>>().toEqualTypeOf<ResponseStore>();
    expectTypeOf<Option<'resume'>>().toEqualTypeOf<ResumeOptions | boolean>();
    expectTypeOf<Option<'throttle'>>().toEqualTypeOf<ThrottleOptions | boolean>();
    expectTypeOf<Option<'store'>>().toEqualTypeOf<FleetStore | FleetOptions>();
    expectTypeOf<FleetOptions>().toExtend<StoreGuardOptions>();
    expectTypeOf<NonNullable<FleetOptions['logger']>>().toEqualTypeOf<StoreLogger>();
    expectTypeOf<Option<'timeouts'>>().toEqualTypeOf<TimeoutOptions>();
    expectTypeOf<Option<'errorBody'>>().toEqualTypeOf<ErrorBodyOptions>();
    expectTypeOf<Option<'logging'>>().toEqualTypeOf<LoggingOptions>();
    expectTypeOf<Option<'logger'>>().toEqualTypeOf<Logger>();
    expectTypeOf<Option<'captureContent'>>().toEqualTypeOf<boolean | CaptureContentOptions>();
    expectTypeOf<Option<'clock'>>().toEqualTypeOf<Clock>();
    expectTypeOf<Option<'random'>>().toEqualTypeOf<Random>();
    expectTypeOf<Parameters<Option<'requestHook'>>[1]>().toEqualTypeOf<AttemptInfo>();
    expectTypeOf<Parameters<Option<'ignoreRequest'>>[0]>().toEqualTypeOf<ClaudeRequest>();
  });

  it('the store and result types are exported where they are used', () => {
    expectTypeOf<ReturnType<FleetStore['headroomClaim']>>().toEqualTypeOf<Promise<HeadroomClaim>>();
    expectTypeOf<Parameters<FleetStore['headroomClaim']>[1]>().toEqualTypeOf<HeadroomCost>();
    expectTypeOf<Parameters<FleetStore['headroomPut']>[1]>().toEqualTypeOf<HeadroomSnapshot>();
    expectTypeOf<ReturnType<FleetStore['breakerAcquireProbe']>>().toEqualTypeOf<Promise<ProbeGrant>>();
    expectTypeOf<Parameters<FleetStore['breakerView']>[1]>().toEqualTypeOf<FleetBreakerConfig>();
    expectTypeOf<ReturnType<FleetStore['cacheGet']>>().toEqualTypeOf<Promise<StoredResponse | undefined>>();
    expectTypeOf<NonNullable<Awaited<ReturnType<ResponseStore['get']>>>>().toEqualTypeOf<CachedMessage>();
    expectTypeOf(root.MemoryFleetStore).constructorParameters.toEqualTypeOf<[MemoryFleetStoreOptions?]>();
    expectTypeOf(redis.RedisFleetStore).constructorParameters.toEqualTypeOf<[RedisFleetStoreOptions?]>();
    expectTypeOf(setup.setup).parameter(0).toEqualTypeOf<SetupOptions | undefined>();
    expectTypeOf(setup.setup).returns.toEqualTypeOf<OtelHandle>();
    expectTypeOf(testing.startFakeClaude).parameter(0).toEqualTypeOf<FakeClaudeOptions | undefined>();
    expectTypeOf(testing.startFakeClaude).returns.toEqualTypeOf<Promise<FakeClaude>>();
    expectTypeOf<NonNullable<FakeClaudeOptions['script']>[number]>().toEqualTypeOf<Fault | null>();
    expectTypeOf<FakeClaude['requests'][number]>().toEqualTypeOf<RecordedRequest>();
    expectTypeOf<NonNullable<Fault['raw']>>().toExtend<RawResponse>();
    expectTypeOf(root.claudeOtelErrorOf).returns.toEqualTypeOf<ClaudeOtelErrorInfo | undefined>();
    expectTypeOf<ClaudeOtelErrorInfo['type']>().toExtend<PolicyErrorType | string>();
    expectTypeOf<
      InstanceType<typeof root.StreamInterruptedError>['partial']
    >().toEqualTypeOf<PartialOutput>();
    expectTypeOf<InstanceType<typeof root.ClaudeTimeoutError>['kind']>().toEqualTypeOf<TimeoutKind>();
    expectTypeOf<(typeof root.TAXONOMY)[number]>().toEqualTypeOf<TaxonomyEntry>();
    expectTypeOf<(typeof root.ATTRIBUTES)['ERROR_TYPE']>().toEqualTypeOf<AttributeSpec>();
    expectTypeOf<BreakerState>().toEqualTypeOf<'closed' | 'open' | 'half_open'>();
    expectTypeOf<LoggingOptions['rateLimit']>().toExtend<LogRateLimitOptions | false | undefined>();
    expectTypeOf<ReturnType<Clock['setTimer']>>().toEqualTypeOf<Timer>();
  });

  it('the runtime exports of each entry point exist', () => {
    expect(Object.keys(root).sort()).toEqual(
      [
        'ATTRIBUTES',
        'ClaudeOtelOptionsError',
        'ClaudeTimeoutError',
        'EVENTS',
        'INSTRUMENTATION_SCOPE',
        'LOG_EVENTS',
        'METRICS',
        'MemoryFleetStore',
        'POLICY_ERROR_HEADER',
        'SPANS',
        'StreamInterruptedError',
        'TAXONOMY',
        'VERSION',
        'claudeOtelErrorOf',
        'createClaudeFetch',
        'estimateInputTokens',
      ].sort(),
    );
    expect(Object.keys(redis)).toEqual(['RedisFleetStore']);
    expect(Object.keys(testing)).toEqual(['startFakeClaude']);
    expect(typeof setup.setup).toBe('function');
  });
});

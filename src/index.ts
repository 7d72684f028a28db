/**
 * claude-otel-middleware: an instrumented `fetch` for the Anthropic SDK.
 *
 * ```ts
 * import Anthropic from '@anthropic-ai/sdk';
 * import { createClaudeFetch } from 'claude-otel-middleware';
 * const client = new Anthropic({ fetch: createClaudeFetch() });
 * ```
 *
 * Terms: an *operation* is one call of the fetch (one SDK attempt); an *attempt* is one HTTP
 * request sent for it. Until resilience policies are configured the two are one to one.
 */
export { ClaudeOtelOptionsError } from './config.js';
export type { ClaudeFetch } from './fetch.js';
export { createClaudeFetch } from './fetch.js';
export type {
  CaptureContentOptions,
  ClaudeFetchOptions,
  ErrorBodyOptions,
  RegionsOptions,
  ResumeOptions,
  RetryPolicyOptions,
  TimeoutOptions,
} from './options.js';
export type { BackoffOptions } from './policies/backoff.js';
export type { BreakerOptions, BreakerState, BreakerWindow } from './policies/breaker.js';
export type { BreakerHoldOptions, BreakerPolicyOptions } from './policies/breaker-policy.js';
export type { RetryBudgetOptions } from './policies/budget.js';
export type { CachedMessage, CacheOptions, ResponseStore } from './policies/cache.js';
export { TAXONOMY, type TaxonomyEntry } from './policies/classify.js';
export type { ClaudeOtelErrorInfo, PolicyErrorType, TimeoutKind } from './policies/errors.js';
export { ClaudeTimeoutError, claudeOtelErrorOf, POLICY_ERROR_HEADER } from './policies/errors.js';
export type { FallbackOptions } from './policies/fallback.js';
export type { ProbeOptions, RegionConfig, RegionHealthOptions } from './policies/regions.js';
export type { RetryOptions } from './policies/retry.js';
export type { ThrottleOptions } from './policies/throttle.js';
export { estimateInputTokens } from './policies/throttle.js';
export type { Clock, Random, Timer } from './policies/types.js';
export type { AttemptInfo } from './recorder.js';
export type { ClaudeRequest } from './request.js';
export type { PartialOutput } from './sse/resume.js';
export { StreamInterruptedError } from './sse/resume.js';
export type { FleetOptions } from './store/fleet.js';
export type { StoreGuardOptions, StoreLogger } from './store/guard.js';
export { MemoryFleetStore, type MemoryFleetStoreOptions } from './store/memory.js';
export type {
  FleetBreakerConfig,
  FleetBreakerView,
  FleetStore,
  HeadroomClaim,
  HeadroomCost,
  HeadroomSnapshot,
  ProbeGrant,
  StoredResponse,
} from './store/types.js';
export type { Logger, LoggingOptions, LogRateLimitOptions } from './telemetry/logging.js';
export type { AttributeSpec, AttributeType, Origin } from './telemetry/names.js';
export {
  ATTRIBUTES,
  EVENTS,
  INSTRUMENTATION_SCOPE,
  LOG_EVENTS,
  METRICS,
  SPANS,
} from './telemetry/names.js';
export { VERSION } from './version.js';

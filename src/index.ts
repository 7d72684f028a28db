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
export type { ClaudeFetch } from './fetch.js';
export { createClaudeFetch } from './fetch.js';
export type { AttemptInfo, CaptureContentOptions, ClaudeFetchOptions } from './options.js';
export type { ClaudeRequest } from './request.js';
export { ATTRIBUTES, EVENTS, INSTRUMENTATION_SCOPE, METRICS, SPANS } from './telemetry/names.js';
export { VERSION } from './version.js';
